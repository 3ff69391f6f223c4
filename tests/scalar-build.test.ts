// The three builds really differ the way asconfig.json says: scalar.wasm holds no SIMD at all (so it
// runs where wasm SIMD is missing), simd.wasm holds f32x4 code, relaxed.wasm holds relaxed_madd.
// Checked twice: statically with binaryen (the module's instructions and types), and by running a
// child Node whose V8 believes the CPU lacks SSE4.1, which is how V8 turns wasm SIMD off.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wasm = (build: string) => readFileSync(join(root, "build", `${build}.wasm`));

/** Every SIMD instruction or type in binaryen's text form: v128.*, f32x4.*, i8x16.*, ..., v128 locals. */
const SIMD_TOKEN = /\bv128\.[a-z_0-9]+|\bv128\b|\b[if](?:8|16|32|64)x(?:2|4|8|16)\.[a-z_0-9]+/g;

function inspect(build: string) {
  const module = binaryen.readBinary(wasm(build));
  try {
    const text = module.emitText();
    const simdTokens = [...new Set(text.match(SIMD_TOKEN) ?? [])].sort();
    // validate against a feature set without SIMD: passes only if nothing needs SIMD
    module.setFeatures(binaryen.Features.All & ~binaryen.Features.SIMD128 & ~binaryen.Features.RelaxedSIMD);
    const validWithoutSimd = build === "scalar" ? module.validate() === 1 : undefined;
    module.setFeatures(binaryen.Features.All);
    const validWithAll = module.validate() === 1;
    const exports = [...text.matchAll(/\(export "([^"]+)"/g)].map((m) => m[1]!);
    return { text, simdTokens, validWithoutSimd, validWithAll, exports };
  } finally {
    module.dispose();
  }
}

describe("one source, three builds", () => {
  const scalar = inspect("scalar");
  const simd = inspect("simd");
  const relaxed = inspect("relaxed");

  it("all three builds are valid wasm with the same exported kernels", () => {
    for (const b of [scalar, simd, relaxed]) expect(b.validWithAll).toBe(true);
    expect(scalar.exports.length).toBeGreaterThan(5);
    expect(simd.exports).toEqual(scalar.exports);
    expect(relaxed.exports).toEqual(scalar.exports);
    for (const k of ["relu_f32_forward", "relu_f32_backward", "axpy_f32", "heap_base", "memory"]) {
      expect(scalar.exports).toContain(k);
    }
  });

  it("scalar.wasm contains no SIMD instruction or v128 type and validates without the SIMD feature", () => {
    expect(scalar.simdTokens).toEqual([]);
    expect(scalar.text).not.toMatch(/relaxed/);
    expect(scalar.validWithoutSimd).toBe(true);
  });

  it("simd.wasm contains f32x4 arithmetic and no relaxed instruction", () => {
    expect(simd.simdTokens).toEqual(expect.arrayContaining(["v128", "v128.load", "v128.store", "f32x4.add", "f32x4.mul", "f32x4.max"]));
    expect(simd.text).not.toMatch(/relaxed/);
  });

  it("relaxed.wasm contains f32x4.relaxed_madd", () => {
    expect(relaxed.simdTokens).toContain("f32x4.relaxed_madd");
    expect(relaxed.simdTokens).toContain("v128.load");
  });
});

describe("the threads builds", () => {
  const simd = inspect("simd");
  const threads = inspect("threads");
  const relaxedThreads = inspect("relaxed-threads");
  /** The module's imported memory, as binaryen's text declares it: `(import "env" "memory" (memory $0 2 32767 shared))`. */
  const memoryImport = (text: string) => text.match(/\(import "env" "memory" \(memory \S+ (\d+) (\d+) shared\)\)/)?.slice(1);

  it("both import a shared memory of 2 to 32767 pages and export the kernels of the other builds", () => {
    for (const b of [threads, relaxedThreads]) {
      expect(b.validWithAll).toBe(true);
      expect(memoryImport(b.text)).toEqual(["2", "32767"]);
      expect(b.exports.filter((e) => e !== "memory")).toEqual(simd.exports.filter((e) => e !== "memory"));
    }
  });

  it("threads.wasm holds no relaxed instruction (it runs where relaxed SIMD is missing); relaxed-threads.wasm holds relaxed_madd", () => {
    expect(threads.text).not.toMatch(/relaxed/);
    expect(relaxedThreads.simdTokens).toContain("f32x4.relaxed_madd");
  });
});

// V8 has no flag that turns off wasm SIMD itself in Node 20, but it requires SSE4.1 for it:
// --no-enable-sse4-1 makes it report "Wasm SIMD unsupported", as on a CPU without SIMD support.
const NO_SIMD_FLAG = "--no-enable-sse4-1";
const childScript = `
import { readFileSync } from "node:fs";
import { simd, relaxedSimd } from "wasm-feature-detect";
const out = { detect: { simd: await simd(), relaxedSimd: await relaxedSimd() }, builds: {} };
for (const build of ["scalar", "simd", "relaxed"]) {
  try {
    const { instance: { exports: k } } = await WebAssembly.instantiate(readFileSync("build/" + build + ".wasm"), {});
    const n = 7, base = k.heap_base() + 15 & ~15;
    const f = new Float32Array(k.memory.buffer);
    const x = base / 4, y = x + 16;
    for (let i = 0; i < n; i++) f[x + i] = i % 2 ? -i : i;
    k.relu_f32_forward(base + 64, base, n);
    k.axpy_f32(base + 64, base, 0.5, n);
    out.builds[build] = { ran: true, y: [...f.subarray(y, y + n)] };
  } catch (err) {
    out.builds[build] = { ran: false, error: String(err.message) };
  }
}
console.log(JSON.stringify(out));
`;

describe(`a Node without wasm SIMD (${NO_SIMD_FLAG})`, () => {
  const flagKnown = execFileSync(process.execPath, ["--v8-options"], { encoding: "utf8" }).includes("--enable-sse4-1");

  it.runIf(flagKnown)("runs a kernel of the scalar build and rejects the SIMD builds", () => {
    const stdout = execFileSync(process.execPath, [NO_SIMD_FLAG, "--input-type=module", "-e", childScript], {
      cwd: root,
      encoding: "utf8",
    });
    const out = JSON.parse(stdout);
    expect(out.detect).toEqual({ simd: false, relaxedSimd: false });
    expect(out.builds.scalar.ran).toBe(true);
    // relu then y += 0.5 x, from the plain definition
    const expected = Array.from({ length: 7 }, (_, i) => {
      const x = i % 2 ? -i : i;
      return Math.max(x, 0) + 0.5 * x;
    });
    expect(out.builds.scalar.y).toEqual(expected);
    expect(out.builds.simd.ran).toBe(false);
    expect(out.builds.simd.error).toMatch(/SIMD unsupported/i);
    expect(out.builds.relaxed.ran).toBe(false);
  });

  it("the same child script runs every build in a normal Node (the check above can fail)", () => {
    const stdout = execFileSync(process.execPath, ["--experimental-wasm-relaxed-simd", "--input-type=module", "-e", childScript], {
      cwd: root,
      encoding: "utf8",
    });
    const out = JSON.parse(stdout);
    expect(out.detect.simd).toBe(true);
    for (const b of ["scalar", "simd", "relaxed"]) expect(out.builds[b].ran, b).toBe(true);
    expect(out.builds.simd.y).toEqual(out.builds.scalar.y);
  });
});
