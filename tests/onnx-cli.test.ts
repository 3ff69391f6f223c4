// The ONNX subcommands of the bundled command line (src/cli/main.ts bundled with esbuild, as
// dist/cli.js is): onnx-test on case folders (exit 0), on a corrupted copy (exit 1, one FAIL line
// per case and the closing count), run on a model file, export-onnx then run.
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe.skipIf(!HAS_ONNX)("simdnet onnx-test / run / export-onnx", () => {
  it("passes a folder of cases and single cases, one line each and the closing count", () => {
    const r = simdnet("onnx-test", "--build", "simd", onnx("pytorch-converted/"), onnx("node/test_relu"));
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const lines = r.out.trim().split("\n");
    expect(lines.at(-1)).toBe("31 passed, 0 failed");
    expect(lines.slice(0, -1).every((l) => /^PASS \S+ max_abs=\S+ max_rel=\S+ via=(model|executor)$/.test(l))).toBe(true);
  });

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
    expect(r.out).toMatch(/run via model/);
    expect(r.out).toMatch(/\[1,1000,1,1\]: 0\.001/);
    expect(r.out).toMatch(/top-5: #\d+ 0\.001/);
    const c = onnx("node/test_conv_with_strides_padding/");
    const r2 = simdnet("run", `${c}model.onnx`, "--input", `${c}test_data_set_0/input_0.pb,${c}test_data_set_0/input_1.pb`, "--build", "scalar");
    expect(r2.code).toBe(0);
    expect(r2.out).toMatch(/y \[1,1,4,3\]: 12, 27, 24, 63/);
    const file = join(dir, "lenet.onnx");
    expect(simdnet("export-onnx", "--out", file, "--build", "simd").code).toBe(0);
    const r3 = simdnet("run", file, "--input", "random", "--build", "simd");
    expect(r3.code).toBe(0);
    expect(r3.out).toMatch(/dense3 \[1,10\]: /);
    const r4 = simdnet("run", join(dir, "cases", "test_relu_truncated", "model.onnx"));
    expect(r4.code).toBe(1);
    expect(r4.err).toMatch(/^simdnet: /);
  });
});
