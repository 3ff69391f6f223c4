// The package's declarations and its API report (run by scripts/build.mjs after the wasm step):
//   build/dts/                 tsc's per-module declarations of src/index.ts's graph (tsconfig.build.json;
//                              members tagged @internal are stripped)
//   dist/types/index.d.ts      API Extractor's rollup of them: the one file package.json's "types" names
//   build/api/simdnet.api.md   the API report of this build: every exported name and signature
//   build/api/messages.json    API Extractor's findings (a type the API uses but src/index.ts does not
//                              export, an export without a doc comment); tests/api.test.ts fails on them
// tests/api.test.ts also fails when build/api/simdnet.api.md differs from the checked-in
// api/simdnet.api.md: a change of the public surface is deliberate only with the report updated,
//   npm run api:update        (= node scripts/types.mjs --update: rebuilds and copies the report to api/)
// Usage: node scripts/types.mjs [--update]. Exit 1 only when the declarations cannot be produced.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Extractor, ExtractorConfig } from "@microsoft/api-extractor";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);
const update = process.argv.includes("--update");

// tsc (incremental: its build info lives in build/dts, so deleting build/dts forces a full emit).
// Type errors do not stop the emit (the type-check step of npm test reports them); no output does.
const tsc = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], { encoding: "utf8" });
if (tsc.status !== 0) console.error(`${tsc.stdout}${tsc.stderr}types: tsc -p tsconfig.build.json reported type errors (declarations written regardless)`);
if (!existsSync("build/dts/src/index.d.ts")) {
  console.error("types: tsc -p tsconfig.build.json wrote no declarations");
  process.exit(1);
}
// The generated boundary types (build/*.d.ts) beside the emitted src/ tree, where its imports point.
mkdirSync("build/dts/build", { recursive: true });
for (const f of readdirSync("build")) if (f.endsWith(".d.ts")) copyFileSync(join("build", f), join("build/dts/build", f));

mkdirSync("build/api", { recursive: true });
const messages = [];
const config = ExtractorConfig.loadFileAndPrepare(join(root, "api-extractor.json"));
const result = Extractor.invoke(config, {
  localBuild: update,
  messageCallback(m) {
    // The report's own "changed" notice is the test's business; tsdoc style notes are not ours.
    if (m.messageId.startsWith("tsdoc-") || m.messageId === "console-api-report-not-copied") m.logLevel = "none";
    if (m.logLevel === "error" || m.logLevel === "warning") {
      const where = m.sourceFilePath ? `${m.sourceFilePath.replace(`${root}/`, "")}:${m.sourceFileLine}: ` : "";
      messages.push({ id: m.messageId, level: m.logLevel, text: `${where}${m.text}` });
    }
    if (m.logLevel !== "error" && m.logLevel !== "warning") m.logLevel = "none";
    m.handled = true;
  },
});
writeFileSync("build/api/messages.json", JSON.stringify(messages, null, 2));
for (const m of messages) console.log(`types: ${m.level} ${m.id}: ${m.text}`);
if (update) copyFileSync("build/api/simdnet.api.md", "api/simdnet.api.md");
console.log(
  `types: dist/types/index.d.ts; API report ${update ? "written to api/simdnet.api.md" : result.apiReportChanged ? "DIFFERS from api/simdnet.api.md (npm run api:update if intended)" : "unchanged"}`,
);
