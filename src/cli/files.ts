// Files of the command line (Node): reading inputs with one-line errors, checking an output path
// before the work that produces it, and atomic writes (a temporary file in the same directory,
// then a rename), so a save that fails partway leaves any earlier file whole.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { decode as decodePng } from "fast-png";
import { SimdnetError } from "../errors.js";

/** A Node file-system error as a short phrase ("no such file", "is a directory", ...). */
function why(err: unknown): string {
  const code = (err as { code?: string })?.code;
  switch (code) {
    case "ENOENT":
      return "no such file or directory";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "a part of the path is not a directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ENOSPC":
      return "no space left on the device";
    default:
      return String((err as Error)?.message ?? err).split("\n")[0]!;
  }
}

/** The bytes of `path`; `what` names it in errors (e.g. "--weights"). */
export function readInput(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new SimdnetError(`${what} ${path}: ${why(err)}`);
  }
}

/**
 * Checks, before any work, that `path` can be written: its directory exists and is a directory,
 * and `path` itself is not a directory. `what` names it in errors (e.g. "--out").
 */
export function checkOutputPath(path: string, what: string): void {
  const dir = dirname(resolve(path));
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (err) {
    throw new SimdnetError(`${what} ${path}: the directory ${dirname(path)} does not exist (${why(err)})`);
  }
  if (!isDir) throw new SimdnetError(`${what} ${path}: ${dirname(path)} is not a directory`);
  let target;
  try {
    target = statSync(path);
  } catch {
    return; // a new file
  }
  if (target.isDirectory()) throw new SimdnetError(`${what} ${path} is a directory`);
}

/** Writes `bytes` with `write` (a file descriptor writer); the test seam for a failing write. */
export type Writer = (fd: number, bytes: Uint8Array) => void;

const writeAll: Writer = (fd, bytes) => {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
};

/**
 * Writes `bytes` to `path` atomically: into a temporary file beside it (same directory, so the
 * rename stays on one file system), flushed to disk, then renamed over `path`. On any failure the
 * temporary file is removed, `path` is left as it was, and a one-line SimdnetError names `what`.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array, what: string, write: Writer = writeAll): void {
  checkOutputPath(path, what);
  const tmp = join(dirname(resolve(path)), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx");
    write(fd, bytes);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already failing: the first error is the one to report
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      // never created
    }
    throw new SimdnetError(`${what} ${path}: the write failed (${why(err)}); the file is unchanged`);
  }
}

/** A decoded PNG file; a file that is not a PNG is a one-line SimdnetError naming `what`. */
export function readPng(path: string, what: string): ReturnType<typeof decodePng> {
  const bytes = readInput(path, what);
  try {
    return decodePng(bytes);
  } catch (err) {
    throw new SimdnetError(`${what} ${path}: not a readable PNG file (${why(err)})`);
  }
}
