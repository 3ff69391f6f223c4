// The one test command (`npm test`, called by .ci/run): build, type-check, then every suite.
// Ends with the line CI reads: "N passed, N failed".
import { spawnSync } from "node:child_process";
import { readFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);
mkdirSync("build", { recursive: true });

let passed = 0;
let failed = 0;
const run = (label, cmd, args, opts = {}) => {
  console.log(`\n=== ${label}: ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { stdio: "inherit", ...opts });
  return r.status === 0;
};
const step = (label, cmd, args, opts) => {
  if (run(label, cmd, args, opts)) passed++;
  else {
    failed++;
    console.log(`FAILED: ${label}`);
  }
};

if (!run("build", process.execPath, ["scripts/build.mjs"])) {
  console.log("\n0 passed, 1 failed");
  process.exit(1);
}
step("type-check", process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.json", "--noEmit"]);

// vitest: the host and every kernel in every build; counts come from its JSON report.
const report = "build/vitest-report.json";
run("vitest", process.execPath, ["node_modules/vitest/vitest.mjs", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`]);
try {
  const json = JSON.parse(readFileSync(report, "utf8"));
  passed += json.numPassedTests;
  failed += json.numFailedTests + (json.numFailedTestSuites ?? 0) + (json.numTotalTests === 0 ? 1 : 0);
} catch (err) {
  console.log(`FAILED: vitest wrote no report (${err.message})`);
  failed++;
}

console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
