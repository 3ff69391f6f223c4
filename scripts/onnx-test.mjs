// The ONNX conformance runner (later `simdnet onnx-test`): runs each case given on the command line
// (a case directory with model.onnx + test_data_set_N/, a light_<net>.onnx file, or a directory of
// cases, searched recursively) and prints one line per case, then "N passed, N failed".
// Exit code 1 if any case fails. Usage:
//   node --experimental-wasm-relaxed-simd scripts/onnx-test.mjs [--build scalar|simd|relaxed] <case>...
// It bundles src/onnx/conformance.ts (Node-only: it reads files) into build/ with esbuild first.
import * as esbuild from "esbuild";
import { existsSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
let build = "auto";
const paths = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--build") build = args[++i];
  else paths.push(args[i]);
}
if (paths.length === 0) {
  console.error("usage: onnx-test.mjs [--build scalar|simd|relaxed] <case-dir | light_net.onnx | dir-of-cases>...");
  process.exit(2);
}
if (!existsSync(join(root, "build/wasm-inline.js"))) {
  console.error("build/wasm-inline.js is missing: run `node scripts/build.mjs` first");
  process.exit(2);
}
const outfile = join(root, `build/onnx-conformance-${process.pid}.mjs`); // per process: runs may overlap
await esbuild.build({
  entryPoints: [join(root, "src/onnx/conformance.ts")],
  bundle: true, format: "esm", platform: "node", target: "es2022", outfile, logLevel: "warning",
});
const { runOnnxCase, findOnnxCases, formatOnnxResult, initEngine } = await import(pathToFileURL(outfile).href);
rmSync(outfile);

let passed = 0, failed = 0;
const engine = await initEngine(build).catch((err) => {
  console.error(`cannot start the ${build} build: ${err.message}`);
  process.exit(2);
});
for (const p of paths) {
  if (!existsSync(p)) {
    console.log(`FAIL ${p} (no such file or directory)`);
    failed++;
    continue;
  }
  for (const c of findOnnxCases(p)) {
    const r = await runOnnxCase(c, { engine });
    console.log(formatOnnxResult(r));
    if (r.passed) passed++;
    else failed++;
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
