// The package as a user gets it: `npm pack` (of the built tree), the tarball installed into a fresh
// project in a temporary folder (offline: the package has no runtime dependencies), then
// tests/runtimes/consumer/*.mts type-checked against the installed declarations under `strict`
// with moduleResolution nodenext and bundler (consumer-errors.mts proves the types are real: its
// @ts-expect-error lines are errors only with them), compiled, and run in Node, Deno, Bun and a
// Chromium page (the consumer bundled by esbuild from the installed package).
// Exports runPackageTests(record); run directly it prints one line per test.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { npmCommand } from "../../scripts/npm-command.mjs";
import { runPageScript } from "./browser.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const FIXTURES = join(root, "tests", "runtimes", "consumer");

const run = (cmd, args, cwd) => {
  // npm is the one outside node_modules/.bin (scripts/npm-command.mjs)
  if (cmd === "npm") [cmd, ...args] = [...npmCommand(), ...args];
  const p = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: 120_000, env: { ...process.env, NO_COLOR: "1" } });
  return { ok: p.status === 0, stdout: p.stdout ?? "", out: `${p.stdout ?? ""}${p.stderr ?? ""}${p.error ? p.error.message : ""}`.trim() };
};
const tail = (s, n = 600) => (s.length > n ? `...${s.slice(-n)}` : s);

/** The consumer's result line, checked: the program's own checks passed. */
function consumerResult(output) {
  const line = output.split("\n").find((l) => l.startsWith("CONSUMER_RESULT "));
  if (!line) return { ok: false, detail: tail(output) };
  const r = JSON.parse(line.slice("CONSUMER_RESULT ".length));
  return { ok: r.ok === true, detail: `build ${r.build}, loss ${r.training.first.toFixed(3)} -> ${r.training.last.toFixed(3)}` };
}

const STRICT = { strict: true, target: "es2022", lib: ["es2022", "dom"], types: [], skipLibCheck: false, noEmit: true };
const TSCONFIGS = {
  nodenext: { ...STRICT, module: "nodenext", moduleResolution: "nodenext" },
  bundler: { ...STRICT, module: "esnext", moduleResolution: "bundler" },
};

/** Runs every package test, calling record(name, ok, detail) for each. */
export async function runPackageTests(record) {
  const dir = mkdtempSync(join(tmpdir(), "simdnet-package-"));
  try {
    // npm pack without scripts: `prepare` would rebuild what the test run has just built.
    const pack = run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], root);
    let tarball;
    try {
      tarball = JSON.parse(pack.stdout).at(0).filename;
    } catch {
      record("package: npm pack", false, tail(pack.out));
      return;
    }
    const app = join(dir, "app");
    mkdirSync(app);
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module", dependencies: { simdnet: `file:../${tarball}` } }, null, 2),
    );
    const install = run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts"], app);
    const installed = install.ok && JSON.parse(readFileSync(join(app, "node_modules/simdnet/package.json"), "utf8")).types !== undefined;
    record("package: npm pack, install the tarball", installed, installed ? tarball : tail(install.out));
    if (!installed) return;
    for (const f of ["consumer.mts", "consumer-errors.mts"]) copyFileSync(join(FIXTURES, f), join(app, f));

    for (const [name, options] of Object.entries(TSCONFIGS)) {
      writeFileSync(join(app, `tsconfig.${name}.json`), JSON.stringify({ compilerOptions: options, files: ["consumer.mts", "consumer-errors.mts"] }, null, 2));
      const check = run(process.execPath, [tsc, "-p", `tsconfig.${name}.json`], app);
      record(`package: tsc strict, moduleResolution ${name}`, check.ok, check.ok ? "" : tail(check.out, 1500));
    }
    // Emit the consumer as plain JavaScript (out/consumer.mjs imports "simdnet" as written).
    writeFileSync(
      join(app, "tsconfig.emit.json"),
      JSON.stringify({ compilerOptions: { ...TSCONFIGS.nodenext, noEmit: false, outDir: "out" }, files: ["consumer.mts"] }, null, 2),
    );
    const emit = run(process.execPath, [tsc, "-p", "tsconfig.emit.json"], app);
    if (!emit.ok) {
      record("package: compile the consumer", false, tail(emit.out));
      return;
    }
    for (const [name, cmd, args] of [
      ["node", process.execPath, ["out/consumer.mjs"]],
      ["deno", bin("deno"), ["run", "--no-prompt", "out/consumer.mjs"]],
      ["bun", bin("bun"), ["out/consumer.mjs"]],
    ]) {
      const r = run(cmd, args, app);
      const c = consumerResult(r.out);
      record(`package: consumer in ${name}`, r.ok && c.ok, r.ok ? c.detail : tail(r.out));
    }
    // The page: the consumer bundled by esbuild from the installed package, as an app would be.
    try {
      await esbuild.build({
        entryPoints: [join(app, "out/consumer.mjs")],
        bundle: true,
        format: "esm",
        target: "es2022",
        platform: "browser",
        external: ["node:worker_threads"],
        outfile: join(app, "page.js"),
        absWorkingDir: app,
        logLevel: "silent",
      });
      const r = await runPageScript(join(app, "page.js"), "__consumer");
      const c = consumerResult(`CONSUMER_RESULT ${r.result}`);
      record("package: consumer in chromium (esbuild bundle)", c.ok, c.detail);
    } catch (err) {
      record("package: consumer in chromium (esbuild bundle)", false, tail(err.message));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  let failed = 0;
  await runPackageTests((name, ok, detail) => {
    if (!ok) failed++;
    console.log(`${ok ? "  ok  " : "  FAIL"} ${name}${detail ? ` (${detail})` : ""}`);
  });
  process.exit(failed === 0 ? 0 : 1);
}
