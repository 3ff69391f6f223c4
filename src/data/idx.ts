// The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
//   bytes 0-1: 0x00 0x00   byte 2: element type   byte 3: number of dimensions D
//   then D big-endian u32 sizes, then the elements, big-endian, row-major.
// Element types: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64.
// Files may be gzip-compressed (.gz); gunzip uses the standard DecompressionStream (Node 18+,
// Deno, Bun, browsers), so no dependency is needed.
import { fail } from "../errors.js";
import { checkShapeArg } from "../ops/common.js";

/** Element types of the IDX (MNIST) file format. */
export type IdxType = "u8" | "i8" | "i16" | "i32" | "f32" | "f64";
/** The typed array holding an IDX array's elements, by IdxType. */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX array: dimensions, element type and elements. */
export interface IdxArray {
  dims: number[];
  type: IdxType;
  /** The elements in row-major order, native byte order (a copy for multi-byte types). */
  data: IdxData;
}

const TYPES: Record<number, { type: IdxType; bytes: number }> = {
  0x08: { type: "u8", bytes: 1 },
  0x09: { type: "i8", bytes: 1 },
  0x0b: { type: "i16", bytes: 2 },
  0x0c: { type: "i32", bytes: 4 },
  0x0d: { type: "f32", bytes: 4 },
  0x0e: { type: "f64", bytes: 8 },
};

/** Parses an (uncompressed) IDX file. `what` names it in errors (e.g. a file name). */
export function parseIdx(bytes: Uint8Array, what = "IDX data"): IdxArray {
  const op = "parseIdx";
  if (!(bytes instanceof Uint8Array)) fail(op, `${what}: expected a Uint8Array, got ${typeof bytes}`);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) fail(op, `${what} is gzip-compressed: gunzip it first (loadIdxFile does)`);
  if (bytes.length < 4) fail(op, `${what} is truncated: ${bytes.length} bytes, the magic number needs 4`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    fail(op, `${what} is not IDX: bad magic number 0x${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join("")} (must start 0x0000)`);
  }
  const spec = TYPES[bytes[2]!];
  if (!spec) fail(op, `${what}: unknown IDX element type 0x${bytes[2]!.toString(16).padStart(2, "0")}`);
  const rank = bytes[3]!;
  if (rank === 0) fail(op, `${what}: IDX data must have at least one dimension`);
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) fail(op, `${what} is truncated: ${bytes.length} bytes, the header of ${rank} dimensions needs ${headerBytes}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let d = 0; d < rank; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    dims.push(size);
    count *= size;
  }
  const expected = headerBytes + count * spec.bytes;
  if (bytes.length < expected) {
    fail(op, `${what} is truncated: dims [${dims.join(",")}] of ${spec.type} need ${expected} bytes, got ${bytes.length}`);
  }
  if (bytes.length > expected) fail(op, `${what}: ${bytes.length - expected} unexpected bytes after the data of dims [${dims.join(",")}]`);
  const at = headerBytes;
  let data: IdxData;
  switch (spec.type) {
    case "u8":
      data = bytes.slice(at, expected);
      break;
    case "i8":
      data = new Int8Array(bytes.slice(at, expected).buffer);
      break;
    case "i16":
      data = Int16Array.from({ length: count }, (_, i) => view.getInt16(at + 2 * i, false));
      break;
    case "i32":
      data = Int32Array.from({ length: count }, (_, i) => view.getInt32(at + 4 * i, false));
      break;
    case "f32":
      data = Float32Array.from({ length: count }, (_, i) => view.getFloat32(at + 4 * i, false));
      break;
    default:
      data = Float64Array.from({ length: count }, (_, i) => view.getFloat64(at + 8 * i, false));
  }
  return { dims, type: spec.type, data };
}

/** Encodes an array as IDX bytes (big-endian), the inverse of parseIdx. */
export function encodeIdx(dims: readonly number[], data: IdxData): Uint8Array {
  const op = "encodeIdx";
  const entry = Object.entries(TYPES).find(([, t]) => ARRAY_OF[t.type] === data?.constructor);
  if (!entry) fail(op, "data must be a Uint8Array, Int8Array, Int16Array, Int32Array, Float32Array or Float64Array");
  checkShapeArg(op, "dims", dims, { rank: [1, 255], min: 0 });
  if (dims.some((d) => d > 0xffffffff)) fail(op, `dims must be u32 integers, got [${dims.join(",")}]`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) fail(op, `dims [${dims.join(",")}] hold ${count} elements but data has ${data.length}`);
  const [code, { bytes: size, type }] = [Number(entry[0]), entry[1]];
  const head = 4 + 4 * dims.length;
  const out = new Uint8Array(head + count * size);
  const view = new DataView(out.buffer);
  out[2] = code;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  if (type === "u8" || type === "i8") out.set(new Uint8Array(data.buffer, data.byteOffset, count), head);
  else
    for (let i = 0; i < count; i++) {
      const v = data[i]!;
      if (type === "i16") view.setInt16(head + 2 * i, v, false);
      else if (type === "i32") view.setInt32(head + 4 * i, v, false);
      else if (type === "f32") view.setFloat32(head + 4 * i, v, false);
      else view.setFloat64(head + 8 * i, v, false);
    }
  return out;
}

const ARRAY_OF: Record<IdxType, unknown> = { u8: Uint8Array, i8: Int8Array, i16: Int16Array, i32: Int32Array, f32: Float32Array, f64: Float64Array };

/** True if the bytes start with the gzip magic number 1f 8b. */
export const isGzip = (bytes: Uint8Array): boolean => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;

/** Decompresses gzip bytes with the platform's DecompressionStream. */
export async function gunzip(bytes: Uint8Array, what = "data"): Promise<Uint8Array> {
  const op = "gunzip";
  if (typeof DecompressionStream === "undefined") fail(op, "this runtime has no DecompressionStream (needs Node 18+, Deno, Bun or a current browser)");
  if (!isGzip(bytes)) fail(op, `${what} is not gzip data (no 1f 8b magic number)`);
  try {
    const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (err) {
    fail(op, `${what} is corrupt or truncated gzip data: ${(err as Error).message}`);
  }
}

/**
 * The bytes of a file: a path or file: URL through node:fs (Node, Deno, Bun), any other URL
 * through fetch (browsers, http servers).
 */
export async function readBytes(source: string | URL): Promise<Uint8Array> {
  const op = "readBytes";
  const url = source instanceof URL ? source : undefined;
  if (url && url.protocol !== "file:") {
    let response: Response;
    try {
      response = await fetch(url);
    } catch (err) {
      fail(op, `cannot fetch ${url}: ${(err as Error).message}`);
    }
    if (!response.ok) fail(op, `cannot fetch ${url}: HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }
  const fs = await nodeFs();
  try {
    return new Uint8Array(await fs.readFile(source));
  } catch (err) {
    fail(op, `cannot read ${String(source)}: ${(err as Error).message}`);
  }
}

type NodeFs = { readFile(path: string | URL): Promise<Uint8Array> };
async function nodeFs(): Promise<NodeFs> {
  // A computed specifier keeps bundlers (and the platform-neutral package build) from resolving
  // node:fs for browsers, which never reach this line.
  const specifier = ["node", "fs/promises"].join(":");
  try {
    return (await import(/* @vite-ignore */ specifier)) as NodeFs;
  } catch {
    fail("readBytes", "reading files needs node:fs (Node, Deno, Bun); in a browser pass an http(s) URL");
  }
}

/** Reads and parses an IDX file, gunzipping it first if it is gzip-compressed (by content, not name). */
export async function loadIdxFile(path: string | URL): Promise<IdxArray> {
  const raw = await readBytes(path);
  const name = String(path);
  return parseIdx(isGzip(raw) ? await gunzip(raw, name) : raw, name);
}
