// The one test command (`npm test`, called by .ci/run): build, type-check, format + lint (biome), then every suite:
//   vitest     the host and every kernel in every build (tests/*.test.ts)
//   as-pect    the kernels tested inside wasm (assembly/__tests__), compiled scalar, SIMD, relaxed
//   runtimes   the bundled package in Node, Deno, Bun and headless Chromium (tests/runtimes/)
//   playground the browser playground trained and used in headless Chromium (tests/runtimes/playground.mjs)
// Installs what the suites need and is missing (Debian's chromium, as root in CI).
// Ends with the line CI reads, alone on the last line: "N passed, N failed". Exit code 1 on any failure.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, mkdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);
mkdirSync("build", { recursive: true });
const started = Date.now();
const seconds = (t0) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

let passed = 0;
let failed = 0;
const fail = (why) => {
  failed++;
  console.log(`FAILED: ${why}`);
};
const run = (label, cmd, args, opts = {}) => {
  console.log(`\n=== ${label}: ${cmd} ${args.join(" ")}`);
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { stdio: "inherit", ...opts });
  console.log(`=== ${label}: ${r.status === 0 ? "ok" : `exit ${r.status}`} in ${seconds(t0)}`);
  return r.status === 0;
};
/** Counts from a suite's JSON report; a missing report or an empty suite counts as one failure. */
const countReport = (label, file, read) => {
  try {
    const [p, f] = read(JSON.parse(readFileSync(file, "utf8")));
    if (p + f === 0) fail(`${label} ran no tests`);
    passed += p;
    failed += f;
    console.log(`${label}: ${p} passed, ${f} failed`);
  } catch (err) {
    fail(`${label} wrote no report (${err.message})`);
  }
};

// Chromium (for the browser smoke) installs in the background while the rest runs.
const chromium = new Promise((resolve) => {
  const child = spawn("bash", ["scripts/install-chromium.sh"], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  child.on("error", (err) => resolve({ ok: false, output: err.message }));
  child.on("close", (code) => resolve({ ok: code === 0, output }));
});

if (!run("build", process.execPath, ["scripts/build.mjs"])) {
  console.log("\n0 passed, 1 failed");
  process.exit(1);
}
for (const project of ["tsconfig.json", "playground/tsconfig.json"]) {
  if (run(`type-check ${project}`, process.execPath, ["node_modules/typescript/bin/tsc", "-p", project, "--noEmit"])) passed++;
  else fail(`type-check ${project}`);
}

// biome: the formatter and linter (biome.json) over every source file; `npx biome check --write` fixes.
if (run("biome check", process.execPath, ["node_modules/@biomejs/biome/bin/biome", "check", "."])) passed++;
else fail("biome check: run `npx biome check --write` and commit the result");

// vitest: the host and every kernel in every build; counts come from its JSON report.
const vitestReport = "build/vitest-report.json";
rmSync(vitestReport, { force: true });
run("vitest", process.execPath, ["node_modules/vitest/vitest.mjs", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${vitestReport}`]);
// A file that fails to load (or whose hooks throw) has no failed test: count it as one failure.
countReport("vitest", vitestReport, (json) => [
  json.numPassedTests,
  json.numFailedTests + json.testResults.filter((f) => f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed")).length,
]);

// as-pect: the same spec files compiled three ways. Its CLI wrapper (bin/asp.js) re-spawns node
// without our flags, so lib/test.js is run directly: Node 20 needs the flag for the relaxed build.
for (const build of ["scalar", "simd", "relaxed"]) {
  const label = `as-pect (${build})`;
  const args = [
    "--experimental-wasm-relaxed-simd",
    "--enable-source-maps",
    "node_modules/@as-pect/cli/lib/test.js",
    "--no-logo",
    "--config",
    "as-pect.config.js",
    "--as-config",
    `assembly/__tests__/asconfig.${build}.json`,
  ];
  console.log(`\n=== ${label}: node ${args.join(" ")}`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args, { encoding: "utf8", env: { ...process.env, FORCE_COLOR: "0" } });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`.replace(/\x1b\[[0-9;]*m/g, "");
  console.log(out.replace(/^[\s\S]*?(?=⚡AS-pect⚡)/, "").trimEnd()); // without the ASCII-art logo
  const m = /\[Tests\]:\s*(\d+)\s*\/\s*(\d+)/.exec(out);
  if (!m) fail(`${label} printed no summary (exit ${r.status})`);
  else {
    const [p, total] = [Number(m[1]), Number(m[2])];
    passed += p;
    failed += total - p;
    if (total === 0) fail(`${label} ran no tests`);
    else if (r.status !== 0 && p === total) fail(`${label} exited ${r.status} with every test passing`);
    console.log(`=== ${label}: ${p} passed, ${total - p} failed in ${seconds(t0)}`);
  }
}

// runtimes: the bundle in Node, Deno, Bun, Chromium; one test per runtime x build.
const c = await chromium;
console.log(`\n=== install-chromium: ${c.ok ? "ok" : "FAILED"}\n${c.output.trim().split("\n").slice(-3).join("\n")}`);
const runtimesReport = "build/runtimes-report.json";
rmSync(runtimesReport, { force: true });
run("runtimes", process.execPath, ["tests/runtimes/run.mjs", "--json", runtimesReport]);
countReport("runtimes", runtimesReport, (json) => [json.passed, json.failed]);

// playground: the page served by scripts/playground.mjs, driven in headless Chromium.
const playgroundReport = "build/playground-report.json";
rmSync(playgroundReport, { force: true });
run("playground", process.execPath, ["tests/runtimes/playground.mjs", "--json", playgroundReport]);
countReport("playground", playgroundReport, (json) => [json.passed, json.failed]);

// issue 3's target on the full data set (Debian's dataset-fashion-mnist): LeNet-5 >= 90% in 5 epochs.
const fm = (() => {
  console.log("\n=== fashion-mnist: node scripts/fashion-mnist.mjs");
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ["scripts/fashion-mnist.mjs"], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  process.stdout.write(r.stdout ?? "");
  console.log(`=== fashion-mnist: exit ${r.status} in ${seconds(t0)}`);
  return r.status === 0;
})();
if (fm) passed++;
else fail("fashion-mnist: LeNet-5 below 90% test accuracy on full Fashion-MNIST (or training failed)");

// issue 16's target: an LSTM reading Fashion-MNIST row by row >= 88% in 4 epochs (full data).
{
  console.log("\n=== fashion-mnist-lstm: node scripts/fashion-mnist-lstm.mjs");
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ["scripts/fashion-mnist-lstm.mjs"], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  process.stdout.write(r.stdout ?? "");
  console.log(`=== fashion-mnist-lstm: exit ${r.status} in ${seconds(t0)}`);
  if (r.status === 0) passed++;
  else fail("fashion-mnist-lstm: the row-reading LSTM below 88% test accuracy on full Fashion-MNIST (or training failed)");
}

console.log(`\nall suites in ${seconds(started)}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
