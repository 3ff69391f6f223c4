// The ONNX subcommands of the bundled command line (src/cli/main.ts bundled with esbuild, as
// dist/cli.js is): onnx-test on case folders (exit 0), on a corrupted copy (exit 1, one FAIL line
// per case and the closing count), every ops/ case and light network (through InferenceSession),
// run on a model file, export-onnx then run.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import * as esbuild from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findOnnxCases } from "../src/onnx/conformance.js";
import { encodePng } from "../src/viz/image.js";
import { HAS_ONNX, ONNX_DIR } from "./harness.js";

const dir = mkdtempSync(join(tmpdir(), "simdnet-cli-"));
const cli = join(dir, "cli.mjs");
const onnx = (p: string) => new URL(p, ONNX_DIR).pathname;

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
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const simdnet = (...args: string[]) => {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", timeout: 280_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe.skipIf(!HAS_ONNX)("simdnet onnx-test / run / export-onnx", () => {
  it("passes a folder of cases and single cases, one line each and the closing count", () => {
    const r = simdnet("onnx-test", "--build", "simd", onnx("pytorch-converted/"), onnx("node/test_relu"));
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const lines = r.out.trim().split("\n");
    expect(lines.at(-1)).toBe("31 passed, 0 failed");
    expect(lines.slice(0, -1).every((l) => /^PASS \S+ max_abs=\S+ max_rel=\S+$/.test(l))).toBe(true);
  });

  it("passes every case of ops/ and every light network, each named once (cases run through an InferenceSession)", () => {
    const cases = [...findOnnxCases(onnx("ops/")), ...findOnnxCases(onnx("light/"))].map((c) => basename(c, ".onnx"));
    expect(cases.length).toBeGreaterThan(250);
    const r = simdnet("onnx-test", "--build", "simd", onnx("ops/"), onnx("light/"));
    expect(r.err).toBe("");
    const lines = r.out.trim().split("\n");
    expect(lines.at(-1)).toBe(`${cases.length} passed, 0 failed`);
    expect(lines.slice(0, -1).map((l) => /^PASS (\S+) max_abs=\S+ max_rel=\S+$/.exec(l)?.[1])).toEqual(cases);
    expect(r.code).toBe(0);
  }, 300_000);

  it("fails (exit 1) on a corrupted copy: a truncated model, a wrong expected output", () => {
    const bad = join(dir, "cases");
    cpSync(onnx("node/test_relu"), join(bad, "test_relu_truncated"), { recursive: true });
    cpSync(onnx("node/test_relu"), join(bad, "test_relu_wrong"), { recursive: true });
    cpSync(onnx("node/test_sigmoid"), join(bad, "test_sigmoid_ok"), { recursive: true });
    const model = join(bad, "test_relu_truncated", "model.onnx");
    writeFileSync(model, readFileSync(model).subarray(0, 40));
    const out = join(bad, "test_relu_wrong", "test_data_set_0", "output_0.pb");
    const bytes = readFileSync(out);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x40; // flip an exponent bit of the last float (0 becomes 2)
    writeFileSync(out, bytes);
    const r = simdnet("onnx-test", "--build", "scalar", bad);
    expect(r.code).toBe(1);
    const lines = r.out.trim().split("\n");
    expect(lines.at(-1)).toBe("1 passed, 2 failed");
    expect(lines.find((l) => l.includes("test_relu_truncated"))).toMatch(/^FAIL test_relu_truncated .*\(.*(truncated|ends|field).*\)/i);
    expect(lines.find((l) => l.includes("test_relu_wrong"))).toMatch(/^FAIL test_relu_wrong .*element/);
    expect(simdnet("onnx-test", join(dir, "nothing-here")).code).toBe(1);
  });

  it("run prints outputs, shapes and the top classes; export-onnx writes a model run can read", () => {
    const r = simdnet("run", onnx("light/light_squeezenet.onnx"), "--build", "simd");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/simd build; load \S+ ms, run \S+ ms/);
    expect(r.out).toMatch(/\[1,1000,1,1\]: 0\.001/);
    expect(r.out).toMatch(/top-5: #\d+ 0\.001/);
    const c = onnx("node/test_conv_with_strides_padding/");
    const r2 = simdnet("run", `${c}model.onnx`, "--input", `${c}test_data_set_0/input_0.pb,${c}test_data_set_0/input_1.pb`, "--build", "scalar");
    expect(r2.code).toBe(0);
    expect(r2.out).toMatch(/y \[1,1,4,3\]: 12, 27, 24, 63/);
    const file = join(dir, "lenet.onnx");
    expect(simdnet("export-onnx", "--out", file, "--build", "simd").code).toBe(0);
    expect(simdnet("run", file, "--input", "random", "--build", "simd").err).toMatch(/dimension 0 is "N": give --shape N=/);
    const r3 = simdnet("run", file, "--input", "random", "--shape", "N=1", "--build", "simd");
    expect(r3.code).toBe(0);
    expect(r3.out).toMatch(/dense3 \[1,10\]: /);
    const r4 = simdnet("run", join(dir, "cases", "test_relu_truncated", "model.onnx"));
    expect(r4.code).toBe(1);
    expect(r4.err).toMatch(/^simdnet: /);
  });

  it("run takes symbolic dimensions by --shape, images (resized, normalised, NCHW) and a labels file", () => {
    // the exported LeNet-5 with a symbolic batch: y = softmax-free logits of [N, 1, 28, 28]
    const file = join(dir, "lenet.onnx");
    if (!existsSync(file)) expect(simdnet("export-onnx", "--out", file, "--build", "simd").code).toBe(0);
    const png = join(dir, "img.png");
    writeFileSync(png, encodePng({ width: 40, height: 30, data: Uint8Array.from({ length: 40 * 30 * 3 }, (_, i) => (i * 37) % 256) }));
    const labels = join(dir, "labels.txt");
    writeFileSync(labels, `${Array.from({ length: 10 }, (_, i) => `class${i}`).join("\n")}\n`);
    const r = simdnet("run", file, "--input", `${png},${png}`, "--shape", "N=2", "--mean", "0.5", "--std", "0.25", "--labels", labels, "--top", "2");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/\[2,1,28,28\]/);
    expect(r.out).toMatch(/top-2 \(row 1\): class\d \(#\d\) \S+ {2}class\d \(#\d\)/);
    // the two rows of the same image agree
    const rows = r.out.split("\n").filter((l) => l.includes("top-2"));
    expect(rows[0]!.replace("(row 0)", "")).toBe(rows[1]!.replace("(row 1)", ""));
    const bad = simdnet("run", file, "--input", png, "--shape", "N=x");
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^simdnet: --shape N=x/);
    const noShape = simdnet("run", onnx("node/test_add/model.onnx").replace("test_add", "test_add"), "--shape", "q=1x2");
    expect(noShape.code).toBe(1);
    expect(noShape.err).toMatch(/"q" is not an input/);
  });
});
