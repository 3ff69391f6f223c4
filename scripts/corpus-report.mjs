// Writes the real-model corpus's tables into tests/corpus/README.md (between the <!-- corpus:* -->
// markers) from tests/corpus/models.json and the last test results (<corpus dir>/results.json,
// written by tests/corpus.test.ts):
//   - per model: package, file, size, opset, status today, worst error, simdnet and onnxruntime times;
//   - operators across the corpus: files and nodes per op, and whether simdnet's importer knows it;
//   - blockers: the unsupported ops and features that stop the most files.
//
//   node scripts/corpus-report.mjs            regenerate the README tables
//   node scripts/corpus-report.mjs --accept   first copy each tested model's status and error into
//                                             models.json's expect / error (after a change that
//                                             makes models pass or fail on purpose)
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { corpusDir, formatJson, MANIFEST } from "./fetch-corpus.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const README = join(root, "tests/corpus/README.md");

const manifest = JSON.parse(readFileSync(MANIFEST, "utf8"));
const resultsFile = join(corpusDir(), "results.json");
const last = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, "utf8")) : { results: [] };
const results = last.results;
const resultOf = (id) => results.find((r) => r.id === id);

if (process.argv.includes("--accept")) {
  let changed = 0;
  for (const m of manifest.models) {
    const r = resultOf(m.id);
    if (!r) continue;
    const error = r.status === "pass" ? "" : (r.error ?? "");
    if (m.expect !== r.status || m.error !== error) changed++;
    m.expect = r.status;
    m.error = error;
  }
  writeFileSync(MANIFEST, `${formatJson(manifest)}\n`);
  console.log(`models.json: ${changed} model(s) changed expect/error from ${resultsFile}`);
}

// The op types simdnet knows (its operator registry), as the last test run recorded them.
if (!last.supportedOps) {
  console.error("the results file records no supportedOps: run tests/corpus.test.ts first (it records them)");
  process.exit(2);
}
const knownOps = new Set(last.supportedOps);

const mb = (n) => (n / 1e6).toFixed(n < 1e7 ? 2 : 1);
const fmtMs = (v) => (v === undefined ? "" : v < 10 ? v.toFixed(1) : String(Math.round(v)));
const shape = (dims) => `${dims.map((d) => d ?? "?").join("x")}`;
const cell = (s) => s.replace(/\|/g, "\\|");

/**
 * What stops a file: the op types simdnet lacks and, when it fails for another reason, that error
 * (quoted names dropped, so files failing alike count together).
 */
function blockersOf(m) {
  const r = resultOf(m.id);
  // By name: the file's op types (If bodies included) missing from simdnet's table. What simdnet's
  // refusal lists beyond these is reported apart: it can be nodes downstream of a missing op.
  const b = Object.keys(m.ops).filter((op) => !knownOps.has(op));
  const status = r?.status ?? m.expect;
  const error = r?.error ?? m.error;
  if (status !== "pass" && !/unsupported nodes?/.test(error)) b.push(status === "mismatch" ? "wrong numbers" : error.replace(/"[^"]*"/g, "…").slice(0, 100));
  else if (status !== "pass" && b.length === 0) b.push(`forms of ${Object.keys(r?.unsupported ?? {}).join(", ") || "known ops"} (refused)`);
  return b;
}

const modelRows = manifest.models.map((m) => {
  const r = resultOf(m.id);
  const status = r ? r.status : `${m.expect} (not run)`;
  const error = r?.error ?? m.error;
  const missing = blockersOf(m);
  let why = "";
  if ((r?.status ?? m.expect) === "pass") why = r ? `max err ${r.worst.relErr.toExponential(1)}` : "";
  else if (/unsupported nodes?/.test(error) && missing.length) why = `lacks ${missing.join(", ")}`;
  else why = cell(error.slice(0, 160));
  const src = m.path ?? `${m.chunks.resources} ${m.chunks.key}`;
  const f = m.features ?? {};
  const notes = [
    f.topologicallySorted === false ? "nodes out of order" : "",
    ...Object.entries(f.resize ?? {}).map(([k, n]) => `Resize ${k} x${n}`),
    ...Object.entries(f.clip ?? {}).map(([k, n]) => `Clip by ${k} x${n}`),
    ...Object.entries(f.ifCondition ?? {}).map(([k, n]) => `If ${k.replace("depends on", "on")} x${n}`),
    m.initializers.float16 ? `float16 weights x${m.initializers.float16}` : "",
    m.reference === "float32" ? "reference: float32 twin" : "",
  ]
    .filter(Boolean)
    .join("; ");
  const feeds = m.inputs
    .map((i) => `${i.name} ${i.feed.value !== undefined ? `=${i.feed.value}` : `${shape(i.feed.dims)}${i.feed.text ? " text" : i.feed.lines ? " lines" : ""}`}`)
    .join(", ");
  return `| ${m.id} | ${m.task} | \`${m.package}@${m.version}\` ${src} | ${mb(m.size)} | ${m.opset["ai.onnx"]} | ${cell(feeds)} | ${cell(notes)} | **${status}** ${why} | ${fmtMs(r?.ms.load)} | ${fmtMs(r?.ms.run2 ?? r?.ms.run)} | ${fmtMs(r?.ms.ortRun2 ?? r?.ms.ortRun)} |`;
});
const tested = results.filter((r) => manifest.models.some((m) => m.id === r.id));
const when = tested.length
  ? tested
      .map((r) => r.date)
      .sort()
      .at(-1)
      .slice(0, 10)
  : "never";
const counts = ["pass", "mismatch", "error"].map((s) => `${tested.filter((r) => r.status === s).length} ${s}`).join(", ");
const tiers = ["ci", "bench"].map((t) => `${manifest.models.filter((m) => m.tier === t).length} ${t}`).join(", ");
const modelTable = [
  `${manifest.models.length} files (tier ${tiers}); last run ${when} with ${last.api ?? "?"} (${tested[0]?.build ?? "?"} build): ${counts}.`,
  "Times in ms on the shared 2-core machine (noisy): simdnet import (+ plan) and a warm run; onnxruntime-node (1 thread) warm run.",
  "",
  "| model | task | package, file | MB | opset | feeds | import features | status | load | run | ORT run |",
  "|---|---|---|---:|---:|---|---|---|---:|---:|---:|",
  ...modelRows,
].join("\n");

// Operators: in how many files, how many nodes, and whether simdnet knows them.
const opStats = new Map();
for (const m of manifest.models) {
  for (const [op, n] of Object.entries(m.ops)) {
    const s = opStats.get(op) ?? { files: [], nodes: 0 };
    s.files.push(m.id);
    s.nodes += n;
    opStats.set(op, s);
  }
}
const opRows = [...opStats.entries()]
  .sort((a, b) => b[1].files.length - a[1].files.length || b[1].nodes - a[1].nodes || a[0].localeCompare(b[0]))
  .map(([op, s]) => `| ${op} | ${s.files.length} | ${s.nodes} | ${knownOps.has(op) ? "yes" : "**no**"} |`);
const opTable = [
  `${opStats.size} operators across ${manifest.models.length} files, nodes inside \`If\` branches included ("simdnet": the op is in the operator registry of ${last.api ?? "InferenceSession"}; a file may still use an attribute or mode it lacks).`,
  "",
  "| op | files | nodes | simdnet |",
  "|---|---:|---:|---|",
  ...opRows,
].join("\n");

// Blockers, ranked: each is needed by `files` files; a file is unblocked at import once every blocker
// at or above its row is done ("unblocked": the running count). Ties: more nodes first.
const need = new Map();
const refusedKnown = new Map();
for (const m of manifest.models) {
  for (const b of blockersOf(m)) need.set(b, [...(need.get(b) ?? []), m.id]);
  for (const [op, n] of Object.entries(resultOf(m.id)?.unsupported ?? {})) {
    if (!knownOps.has(op)) continue;
    const s = refusedKnown.get(op) ?? { files: [], nodes: 0 };
    s.files.push(m.id);
    s.nodes += n;
    refusedKnown.set(op, s);
  }
}
const nodesOf = (b) => opStats.get(b)?.nodes ?? 0;
const ranked = [...need.entries()].sort((a, b) => b[1].length - a[1].length || nodesOf(b[0]) - nodesOf(a[0]));
const done = new Set();
const blockerRows = ranked.map(([b, files], k) => {
  done.add(b);
  const unblocked = manifest.models.filter((m) => {
    const bs = blockersOf(m);
    return bs.length > 0 && bs.every((x) => done.has(x));
  }).length;
  return `| ${k + 1} | ${b} | ${files.length} | ${nodesOf(b) || ""} | ${unblocked} | ${files.join(", ")} |`;
});
const blockerTable = [
  `${manifest.models.filter((m) => (resultOf(m.id)?.status ?? m.expect) === "pass").length} of ${manifest.models.length} files pass. A row is an op type missing from simdnet's table (nodes inside \`If\` branches included), or the error of a file that fails for another reason. "unblocked": files with no blocker left once this row and every row above it are done (a file may then meet its next error).`,
  "",
  "| # | missing | files | nodes | unblocked | files |",
  "|---:|---|---:|---:|---:|---|",
  ...blockerRows,
  ...(refusedKnown.size
    ? [
        "",
        `Also refused in the last run, though in simdnet's table (a form it lacks, or nodes downstream of a missing op): ${[...refusedKnown.entries()]
          .sort((a, b) => b[1].files.length - a[1].files.length || b[1].nodes - a[1].nodes)
          .map(([op, s]) => `${op} (${s.nodes} nodes in ${s.files.length} files)`)
          .join(", ")}.`,
      ]
    : []),
].join("\n");

function replaceBetween(text, name, body) {
  const start = `<!-- corpus:${name}:start -->`;
  const end = `<!-- corpus:${name}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`${README} has no ${start} ... ${end} markers`);
  return `${text.slice(0, i + start.length)}\n${body}\n${text.slice(j)}`;
}
let readme = readFileSync(README, "utf8");
readme = replaceBetween(readme, "models", modelTable);
readme = replaceBetween(readme, "ops", opTable);
readme = replaceBetween(readme, "missing", blockerTable);
writeFileSync(README, readme);
console.log(
  `${README}: ${manifest.models.length} models, ${opStats.size} ops, ${need.size} blockers; results from ${tested.length ? resultsFile : "nowhere (run the test first)"}`,
);
