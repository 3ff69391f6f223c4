// The public surface is deliberate: src/index.ts lists every export, the build writes the API report
// of what it exports (scripts/types.mjs: build/api/simdnet.api.md, API Extractor), and that report
// must equal the checked-in api/simdnet.api.md. A change of the surface (a new export, a changed
// signature, a removed option) therefore fails here until `npm run api:update` writes the new report
// and it is committed with the change, where review sees it.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as api from "../src/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const read = (path: string) => readFileSync(join(root, path), "utf8").replace(/\r\n/g, "\n");
const BUILT = "build/api/simdnet.api.md";
const CHECKED_IN = "api/simdnet.api.md";

/** Names the report declares as values (functions, classes, consts, enums), not types. */
function valueNames(report: string): string[] {
  const names = [...report.matchAll(/^export (?:declare )?(?:abstract )?(?:function|class|const|enum|let) (\w+)/gm)].map((m) => m[1]!);
  return [...new Set(names)].sort();
}

describe("public API", () => {
  it("the build wrote the API report (node scripts/build.mjs)", () => {
    expect(existsSync(join(root, BUILT)), `${BUILT} is missing: run node scripts/build.mjs`).toBe(true);
  });

  it("equals the checked-in report api/simdnet.api.md (if the change is intended: npm run api:update)", () => {
    const built = read(BUILT),
      expected = read(CHECKED_IN);
    if (built !== expected) {
      const a = expected.split("\n"),
        b = built.split("\n");
      const first = a.findIndex((line, i) => line !== b[i]);
      const context = (lines: string[]) => lines.slice(Math.max(0, first - 3), first + 4).join("\n");
      expect.fail(
        `the public API differs from ${CHECKED_IN} from line ${first + 1} on ` +
          `(see: git diff --no-index ${CHECKED_IN} ${BUILT}).\nchecked in:\n${context(a)}\nbuilt:\n${context(b)}\n` +
          "If the change is intended, run `npm run api:update` and commit api/simdnet.api.md with it.",
      );
    }
  });

  it("uses no type it does not export, and documents every export", () => {
    const messages = JSON.parse(read("build/api/messages.json")) as { id: string; level: string; text: string }[];
    expect(messages.filter((m) => m.level === "error").map((m) => `${m.id}: ${m.text}`)).toEqual([]);
    const undocumented = [...read(BUILT).matchAll(/^\/\/ @public \(undocumented\)\nexport (?:declare )?(?:abstract )?\w+ (\w+)/gm)].map((m) => m[1]);
    expect(undocumented, "exports without a doc comment at their declaration").toEqual([]);
  });

  it("src/index.ts names its exports one by one (no export *)", () => {
    expect(read("src/index.ts")).not.toMatch(/^export \*/m);
  });

  it("exports at run time exactly the values the report declares, in source and in the bundle", async () => {
    const declared = valueNames(read(BUILT));
    expect(Object.keys(api).sort()).toEqual(declared);
    const bundle = (await import(join(root, "dist/simdnet.js"))) as Record<string, unknown>;
    expect(Object.keys(bundle).sort()).toEqual(declared);
  });

  it("leaves out internals and test hooks", () => {
    for (const name of ["groupSlicesPolicy", "registerLayer", "compileGraph", "gunzip", "sameShape", "checkTensor", "ONNX_OPS"]) {
      expect(Object.keys(api), name).not.toContain(name);
    }
  });
});
