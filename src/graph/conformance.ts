// ONNX conformance cases run through the planned runtime (InferenceSession), Node only (reads case
// directories). Same case layout and comparison as src/onnx/conformance.ts.
import { readFileSync } from "node:fs";
import type { Engine } from "../engine.js";
import { arangeInput, caseFiles, DEFAULT_ATOL, DEFAULT_RTOL, type OnnxCaseResult } from "../onnx/conformance.js";
import { DataType } from "../onnx/onnx-proto.js";
import { InferenceSession, type OnnxFeedLike, onnxTensorType } from "./session.js";

/** Runs one case on `engine` through an InferenceSession; never throws (errors fail the case). */
export function runSessionCase(path: string, engine: Engine, options: { rtol?: number; atol?: number } = {}): OnnxCaseResult {
  const t0 = performance.now();
  const rtol = options.rtol ?? DEFAULT_RTOL,
    atol = options.atol ?? DEFAULT_ATOL;
  let name = path,
    maxAbsError = 0,
    maxRelError = 0;
  const done = (passed: boolean, error?: string): OnnxCaseResult => ({ name, passed, maxAbsError, maxRelError, error, ms: performance.now() - t0 });
  let session: InferenceSession | undefined;
  try {
    const files = caseFiles(path);
    name = files.name;
    session = InferenceSession.fromBytes(engine, new Uint8Array(readFileSync(files.model)));
    let mismatch: string | undefined;
    for (const set of files.sets) {
      const declared = session.inputMetadata;
      const feeds: Record<string, OnnxFeedLike> = {};
      const given =
        set.inputs === "arange" ? declared.map((d) => arangeInput((d.shape ?? []).map((x) => (typeof x === "number" && x > 0 ? x : 1)))) : set.inputs;
      if (given.length !== declared.length) return done(false, `${given.length} input files for ${declared.length} graph inputs`);
      declared.forEach((d, k) => {
        const t = given[k]!;
        feeds[d.name] = { dims: t.dims, data: t.data, type: t.dataType === DataType.FLOAT16 ? "float32" : onnxTensorType(t.dataType) };
      });
      const out = session.runSync(feeds);
      set.outputs.forEach((exp, k) => {
        const got = out[session!.outputNames[k]!];
        if (!got) {
          mismatch ??= `output ${k} missing`;
          return;
        }
        if (got.dims.join() !== exp.dims.join()) {
          mismatch ??= `output ${k} has shape [${got.dims.join(",")}], expected [${exp.dims.join(",")}]`;
          return;
        }
        const data = got.data as ArrayLike<number | bigint>;
        for (let i = 0; i < exp.data.length; i++) {
          const a = Number(data[i]!),
            b = exp.data[i]!;
          const err = a === b ? 0 : Math.abs(a - b); // equal infinities match
          if (!(err <= atol + rtol * Math.abs(b)) && !(Number.isNaN(a) && Number.isNaN(b))) mismatch ??= `output ${k} element ${i}: ${a} vs expected ${b}`;
          if (Number.isNaN(err)) {
            if (!(Number.isNaN(a) && Number.isNaN(b))) maxAbsError = Number.NaN;
          } else if (err > maxAbsError) maxAbsError = err;
          if (b !== 0 && err / Math.abs(b) > maxRelError) maxRelError = err / Math.abs(b);
        }
      });
    }
    return done(mismatch === undefined, mismatch);
  } catch (err) {
    return done(false, err instanceof Error ? err.message : String(err));
  } finally {
    void session?.release();
  }
}
