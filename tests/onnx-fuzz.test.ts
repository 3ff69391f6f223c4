// A standing, seeded ONNX fuzz test: a few thousand mutants of the shared conformance models
// (tests/onnx-fuzz.ts) through every public entry point (ONNX_FUZZ_ENTRY_POINTS). Each must
// succeed or throw a SimdnetError (no raw JavaScript error, no wasm trap) and leave the engine's
// heap as it found it (bytes in use, nothing quarantined); the engine still computes afterwards.
// SIMDNET_FUZZ_SEED and SIMDNET_FUZZ_COUNT change the seed and the number of mutants.
import { describe, expect, it } from "vitest";
import { init } from "../src/engine.js";
import { SimdnetError } from "../src/errors.js";
import { relu } from "../src/ops/elementwise.js";
import { HAS_ONNX, ONNX_DIR } from "./harness.js";
import { mutants, ONNX_FUZZ_ENTRY_POINTS, seedModels } from "./onnx-fuzz.js";

/**
 * Why `err` is not a clean SimdnetError: not one at all, or one wrapping (as its cause) an error
 * that is not (a TypeError from a bug, a wasm RuntimeError such as "divide by zero"); else "".
 */
function rawError(err: unknown): string {
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 10; e = (e as Error).cause, depth++) {
    if (!(e instanceof SimdnetError)) return e instanceof Error ? `${e.name}: ${e.message}` : `thrown ${String(e)}`;
  }
  return "";
}

const SEED = Number(process.env.SIMDNET_FUZZ_SEED ?? 20240611);
const COUNT = Number(process.env.SIMDNET_FUZZ_COUNT ?? 3000);

/**
 * `count` mutants of the models under `dir` through every entry point, on a fresh engine.
 * `convertible`: the seeds are mostly CNN layers, so the Model import (importOnnxModel) also
 * succeeds on a share of them (the backend cases' one-op graphs mostly are not Model layers).
 */
async function fuzz(dir: string, subdirs: readonly string[], count: number, convertible: boolean): Promise<void> {
  // a small budget: a mutant asking for a huge buffer is refused at once
  const engine = await init({ build: "simd", memoryLimit: 256 * 2 ** 20 });
  const seeds = seedModels(dir, subdirs);
  expect(seeds.length).toBeGreaterThan(100);
  const problems: string[] = [];
  const outcomes: Record<string, number> = {};
  let n = 0;
  for (const m of mutants(seeds, count, SEED)) {
    n++;
    for (const entry of ONNX_FUZZ_ENTRY_POINTS) {
      const before = engine.heap.bytesInUse;
      let outcome = "ok";
      try {
        entry.run(engine, m.bytes);
      } catch (err) {
        const raw = rawError(err);
        if (!raw) outcome = (err as Error).name;
        else {
          outcome = "raw";
          problems.push(`${entry.name}: ${m.label}: ${raw}`);
        }
      }
      outcomes[`${entry.name}: ${outcome}`] = (outcomes[`${entry.name}: ${outcome}`] ?? 0) + 1;
      const after = engine.heap.bytesInUse;
      if (after !== before) {
        problems.push(`${entry.name}: ${m.label}: bytes in use ${before} -> ${after} (${outcome})`);
        return expect.fail(problems.join("\n")); // later results would be measured against a leaked heap
      }
      if (engine.heap.bytesQuarantined !== 0) problems.push(`${entry.name}: ${m.label}: quarantined bytes`);
    }
    if (problems.length > 20) break;
  }
  expect(problems, `seed ${SEED}:\n${problems.join("\n")}`).toEqual([]);
  expect(n).toBeGreaterThan(count * 0.9); // (a few field mutations the encoder cannot write are skipped)
  // both kinds of outcome occur: the mutants reach past the decoder
  for (const entry of ONNX_FUZZ_ENTRY_POINTS) {
    if (convertible || !entry.name.startsWith("importOnnxModel"))
      expect(outcomes[`${entry.name}: ok`] ?? 0, JSON.stringify(outcomes)).toBeGreaterThan(count / 50);
    expect(outcomes[`${entry.name}: SimdnetError`] ?? 0, JSON.stringify(outcomes)).toBeGreaterThan(count / 50);
  }
  // the engine still computes
  const t = engine.tensor([4], [-1, 2, -3, 4]);
  expect(Array.from(relu(t).data)).toEqual([0, 2, 0, 4]);
}

describe("ONNX fuzzing", () => {
  it.skipIf(!HAS_ONNX)(`${COUNT} mutants (seed ${SEED}) give only SimdnetErrors and leave the heap unchanged`, { timeout: 600_000 }, () =>
    fuzz(ONNX_DIR.pathname, ["node", "pytorch-converted"], COUNT, true),
  );
  // the vendored ONNX backend cases (tests/onnx-backend): many more op types and element types
  it(`${Math.round(COUNT / 2)} mutants of the vendored backend cases (seed ${SEED}): the same`, { timeout: 600_000 }, () =>
    fuzz(new URL("onnx-backend/", import.meta.url).pathname, [""], Math.round(COUNT / 2), false),
  );
});
