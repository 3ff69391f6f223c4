// The ONNX conformance runner as a script: the same as `simdnet onnx-test` (src/cli/onnx.ts), run
// from the built command line dist/cli.js with the flag Node 20 needs for the relaxed-SIMD build.
// Prints one line per case (PASS/FAIL, name, max abs and rel error), then "N passed, N failed";
// exit code 1 if any case fails. Usage:
//   node scripts/onnx-test.mjs [--build scalar|simd|relaxed] <case-dir | light_net.onnx | dir-of-cases>...
// Run `node scripts/build.mjs` first.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const cli = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "cli.js");
if (!existsSync(cli)) {
  console.error("dist/cli.js is missing: run `node scripts/build.mjs` first");
  process.exit(2);
}
const r = spawnSync(process.execPath, ["--experimental-wasm-relaxed-simd", cli, "onnx-test", ...process.argv.slice(2)], { stdio: "inherit" });
process.exit(r.status ?? 2);
