// Every subcommand of the bundled command line run with missing and bad arguments: each call
// exits with a non-zero code and prints exactly one line to stderr, never a stack trace; outputs
// are checked before any work (train --out into a missing directory fails before training), and
// saves are atomic (a temporary file beside the target, then a rename).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as nn from "../src/index.js";
import { writeFileAtomic } from "../src/cli/files.js";
import { zooSpec } from "../src/cli/zoo-registry.js";
import { SimdnetError } from "../src/errors.js";
import { HAS_ONNX, ONNX_DIR } from "./harness.js";

const dir = mkdtempSync(join(tmpdir(), "simdnet-cli-errors-"));
const cli = join(dir, "cli.mjs");
const f = (name: string) => join(dir, name);

beforeAll(async () => {
  await esbuild.build({
    entryPoints: [new URL("../src/cli/main.ts", import.meta.url).pathname],
    bundle: true,
    format: "esm",
    platform: "node",
    target: "es2022",
    outfile: cli,
    logLevel: "warning",
    loader: { ".wasm": "binary" },
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  mkdirSync(f("adir"));
  writeFileSync(f("bad.png"), "this is not a PNG image at all");
  writeFileSync(f("bad.safetensors"), "{not safetensors");
  writeFileSync(
    f("bad.onnx"),
    Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 255),
  );
  writeFileSync(f("bad.pb"), Uint8Array.of(0xff, 0xff, 0xff));
  writeFileSync(f("labels.idx"), Uint8Array.of(0, 0, 8, 1, 0, 0, 0, 2, 1, 2)); // an IDX vector, not images
  writeFileSync(f("one-label.idx"), Uint8Array.of(0, 0, 8, 1, 0, 0, 0, 1, 3));
  writeFileSync(f("images.idx"), Uint8Array.of(0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28, ...new Uint8Array(2 * 28 * 28).fill(9)));
  const e = await nn.init({ build: "scalar" });
  const m = nn.createModel(e, zooSpec("lenet5", { classes: 10, channels: 1, inputSize: 28 }), { backward: false });
  writeFileSync(f("w.safetensors"), nn.saveWeights(m));
  m.dispose();
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function simdnet(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: dir, env: { ...process.env, SIMDNET_DEBUG: "" } });
    let out = "",
      err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** Runs every case, a few processes at a time. */
async function runAll(cases: string[][]): Promise<Run[]> {
  const results: Run[] = new Array(cases.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: 3 }, async () => {
      while (next < cases.length) {
        const k = next++;
        results[k] = await simdnet(cases[k]!);
      }
    }),
  );
  return results;
}

const W = () => f("w.safetensors");
const onnxCase = (p: string) => new URL(p, ONNX_DIR).pathname;

describe("simdnet with missing and bad arguments: exit code not 0, one line, no stack trace", () => {
  it("every subcommand", { timeout: 600_000 }, async () => {
    const cases: string[][] = [
      // unknown command and flags
      ["nonsense"],
      ["train", "--epoch", "2"],
      ["summary", "lenet5", "--bogus", "1"],
      // train: bad numbers, model, optimizer, data, outputs (all before training)
      ["train", "--epochs", "0"],
      ["train", "--epochs", "x"],
      ["train", "--batch", "-3"],
      ["train", "--lr", "-1"],
      ["train", "--model", "nonet"],
      ["train", "--optimizer", "rmsprop"],
      ["train", "--flip", "maybe"],
      ["train", "--build", "gpu"],
      ["train", "--limit", "0"],
      ["train", "--data", f("missing-dir")],
      ["train", "--data", f("bad.png")],
      ["train", "--data", f("adir")],
      ["train", "--out", f("missing/dir/w.safetensors")],
      ["train", "--out", f("adir")],
      ["train", "--out", f("bad.png/w.safetensors")],
      ["train", "--init", f("w.safetensors")],
      ["train", "--data", f("adir"), "--init", f("missing.onnx")],
      ["train", "--data", f("adir"), "--out", f("missing/dir/w.safetensors")],
      // summary
      ["summary"],
      ["summary", "nonet"],
      ["summary", "lenet5", "--input-size", "0"],
      ["summary", "vgg16", "--classes", "x"],
      // predict
      ["predict"],
      ["predict", "--weights", f("missing.safetensors")],
      ["predict", "--weights", f("adir")],
      ["predict", "--weights", f("bad.safetensors")],
      ["predict", "--weights", W(), f("missing.png")],
      ["predict", "--weights", W(), f("bad.png")],
      ["predict", "--weights", W(), f("adir")],
      ["predict", "--weights", W(), f("labels.idx")],
      ["predict", "--weights", W(), f("missing.idx")],
      ["predict", "--weights", W(), f("images.idx"), "--labels", f("one-label.idx")],
      ["predict", "--weights", W(), f("images.idx"), "--labels", f("missing.idx")],
      ["predict", "--weights", W(), "--data", f("missing-dir")],
      ["predict", "--weights", W(), "--model", "nonet"],
      // onnx-test, run, export-onnx
      ["onnx-test"],
      ["onnx-test", "--via", "sideways", f("adir")],
      ["run"],
      ["run", f("missing.onnx")],
      ["run", f("adir")],
      ["run", f("bad.onnx")],
      ["run", f("bad.png"), f("bad.onnx")],
      ...(HAS_ONNX
        ? [
            ["run", onnxCase("node/test_relu/model.onnx"), "--input", f("missing.pb")],
            ["run", onnxCase("node/test_relu/model.onnx"), "--input", f("bad.pb")],
            ["run", onnxCase("node/test_relu/model.onnx"), "--top", "-1"],
          ]
        : []),
      ["export-onnx", "--out", f("missing/dir/m.onnx")],
      ["export-onnx", "--out", f("adir")],
      ["export-onnx", "--weights", f("missing.safetensors")],
      ["export-onnx", "--weights", f("bad.safetensors")],
      ["export-onnx", "--model", "nonet"],
      ["export-onnx", "--input-size", "0"],
      // viz
      ["viz"],
      ["viz", "sideways"],
      ["viz", "filters"],
      ["viz", "filters", "--weights", f("missing.safetensors")],
      ["viz", "filters", "--weights", f("bad.safetensors")],
      ["viz", "filters", "--weights", W(), "--bogus"],
      ["viz", "filters", "--weights", W(), "--points=yes"],
      ["viz", "saliency", "--weights", W(), "--index", "-1"],
      ["viz", "saliency", "--weights", W(), "--index", "99999"],
      ["viz", "saliency", "--weights", W(), "--image", f("missing.png")],
      ["viz", "saliency", "--weights", W(), "--image", f("bad.png")],
      ["viz", "saliency", "--weights", W(), "--image", f("adir")],
      ["viz", "saliency", "--weights", W(), "--class", "99"],
      ["viz", "activations", "--weights", W(), "--layer", "nope"],
      ["viz", "filters", "--weights", W(), "--layer", "nope"],
      ["viz", "guided", "--weights", W(), "--layer", "nope"],
      ["viz", "class-model", "--weights", W(), "--steps", "x"],
      ["viz", "class-model", "--weights", W(), "--lr", "-1"],
      ["viz", "class-model", "--weights", W(), "--class", "10"],
      ["viz", "tsne", "--weights", W(), "--count", "0"],
      ["viz", "filters", "--weights", W(), "--out", f("missing/dir/x.png")],
      ["viz", "filters", "--weights", W(), "extra"],
      ["viz", "filters", "--weights", W(), "--build", "gpu"],
      ["viz", "neighbours", "--weights", W(), "--k", "0"],
      // character-level language model: train --model char-lstm, sample, viz gradient-flow / cells
      ["train", "--model", "char-lstm", "--out", f("missing/dir/c.safetensors")],
      ["train", "--model", "char-lstm", "--out", f("adir")],
      ["train", "--model", "char-lstm", "--data", f("missing.txt")],
      ["train", "--model", "char-lstm", "--steps", "0"],
      ["train", "--model", "char-lstm", "--bogus", "1"],
      ["sample"],
      ["sample", "--weights", f("missing.safetensors")],
      ["sample", "--weights", f("adir")],
      ["sample", "--weights", f("bad.safetensors")],
      ["sample", "--weights", W()],
      ["sample", "--weights", W(), "--length", "-1"],
      ["viz", "gradient-flow", "--steps", "0"],
      ["viz", "gradient-flow", "--out", f("missing/dir/g.svg")],
      ["viz", "gradient-flow", "--bogus"],
      ["viz", "cells"],
      ["viz", "cells", "--weights", f("missing.safetensors")],
      ["viz", "cells", "--weights", W(), "--out", f("adir")],
      ...(HAS_ONNX ? [["run", onnxCase("node/test_relu/model.onnx"), "--labels", f("missing.txt")]] : []),
    ];
    const results = await runAll(cases);
    const bad: string[] = [];
    results.forEach((r, k) => {
      const lines = r.err.split("\n").filter((l) => l.length > 0);
      const problem =
        r.code === 0
          ? "exit code 0"
          : lines.length !== 1
            ? `${lines.length} lines on stderr`
            : /^\s+at |internal error/.test(r.err)
              ? "a stack trace or an internal error"
              : !lines[0]!.startsWith("simdnet: ")
                ? "no 'simdnet: ' prefix"
                : "";
      if (problem) bad.push(`simdnet ${cases[k]!.join(" ").replaceAll(dir, "<dir>")}: ${problem}\n${r.err.slice(0, 600)}`);
    });
    expect(bad, bad.join("\n\n")).toEqual([]);
    // train --out into a missing directory failed before training: no epoch was printed
    const trainOut = results[cases.findIndex((c) => c[0] === "train" && c[2] === f("missing/dir/w.safetensors"))]!;
    expect(trainOut.out).toBe("");
    expect(trainOut.err).toMatch(/^simdnet: --out .*missing\/dir\/w\.safetensors: the directory .* does not exist/);
  });
});

describe("atomic saves", () => {
  it("a write that fails partway leaves the earlier file whole and no temporary file", () => {
    const target = f("atomic.bin");
    writeFileSync(target, "the earlier file");
    const bytes = new Uint8Array(248 * 1024).fill(7);
    const failing = (fd: number, b: Uint8Array) => {
      writeFileSync(fd, b.subarray(0, 64 * 1024)); // 64 KB of it, then the disk fails
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    };
    expect(() => writeFileAtomic(target, bytes, "--out", failing)).toThrow(SimdnetError);
    expect(() => writeFileAtomic(target, bytes, "--out", failing)).toThrow(
      /--out .*atomic\.bin: the write failed \(no space left on the device\); the file is unchanged/,
    );
    expect(readFileSync(target, "utf8")).toBe("the earlier file");
    expect(readdirSync(dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
    writeFileAtomic(target, bytes, "--out");
    expect(readFileSync(target)).toEqual(Buffer.from(bytes));
    expect(readdirSync(dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
    expect(() => writeFileAtomic(f("missing/x.bin"), bytes, "--out")).toThrow(/does not exist/);
    expect(existsSync(f("missing"))).toBe(false);
  });

  it("export-onnx replaces an existing file through a temporary file", { timeout: 120_000 }, async () => {
    const out = f("lenet.onnx");
    writeFileSync(out, "old");
    const r = await simdnet(["export-onnx", "--weights", W(), "--out", out]);
    expect(r.code, r.err).toBe(0);
    expect(nn.decodeModel(readFileSync(out)).graph.node.length).toBeGreaterThan(3);
    expect(readdirSync(dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });
});
