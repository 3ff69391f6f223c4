// The inner loop (`npm run test:quick`, under a minute on an idle 2-core machine): type-check, then
// every vitest suite except the slow ones listed below. It does not build: run `node scripts/build.mjs`
// after changing assembly/ or what the bundle, the CLI or the API report reflect. `npm test` (what
// CI runs) stays the whole thing. Extra arguments go to vitest (e.g. a file name filter).
// Prints the elapsed time; exits with vitest's status.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);

/** Suites that take seconds to minutes each: every build at many shapes, whole models, subprocesses. */
const SLOW = [
  "tests/onnx-light.test.ts", // whole ONNX nets in every build
  "tests/conv2d-winograd.test.ts",
  "tests/conv2d.test.ts",
  "tests/dense.test.ts",
  "tests/model.test.ts", // zoo models, 1000-step determinism
  "tests/threads.test.ts", // worker pools
  "tests/corpus.test.ts", // real .onnx files (fetched with npm)
  "tests/training.test.ts", // LeNet-5 training and the CLI (needs dist/)
  "tests/transfer.test.ts", // ResNet-18 through the CLI (needs dist/)
  "tests/onnx-cli.test.ts", // the CLI (needs dist/)
  "tests/viz-cli.test.ts", // the CLI (needs dist/)
];

const started = Date.now();
const tsc = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.json", "--noEmit"], { stdio: "inherit" });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
const args = ["node_modules/vitest/vitest.mjs", "run", ...SLOW.flatMap((f) => ["--exclude", f]), ...process.argv.slice(2)];
const vitest = spawnSync(process.execPath, args, { stdio: "inherit" });
console.log(`test:quick: ${((Date.now() - started) / 1000).toFixed(1)} s (the slow suites it skips run in npm test)`);
process.exit(vitest.status ?? 1);
