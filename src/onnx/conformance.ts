// The ONNX conformance runner (Node only: reads case directories with node:fs): each case runs
// through an InferenceSession (src/graph), the library's one ONNX path.
// A case is either a directory with model.onnx and test_data_set_N/{input,output}_K.pb (the ONNX
// backend test layout), or a `light_<net>.onnx` file next to `light_<net>_output_0.pb`, whose
// inputs are arange(n).reshape(shape) / n (a dimension without a fixed value counts as 1).
// Outputs are compared with |actual - expected| <= atol + rtol * |expected|.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { init, type Engine } from "../engine.js";
import type { BuildName } from "../runtime.js";
import { InferenceSession, type OnnxFeedLike, onnxTensorType } from "../graph/session.js";
import type { OnnxTensorData } from "./model.js";
import { DataType, decodeTensor, halfToFloat } from "./onnx-proto.js";

export interface OnnxCaseOptions {
  /** The wasm build to run (ignored when `engine` is given). */
  build?: "auto" | BuildName;
  engine?: Engine;
  rtol?: number;
  atol?: number;
}

export interface OnnxCaseResult {
  name: string;
  passed: boolean;
  /** Largest |actual - expected| over every output and data set. */
  maxAbsError: number;
  /** Largest |actual - expected| / |expected| (over elements with expected != 0). */
  maxRelError: number;
  /** Why the case failed (a thrown error or a mismatch), if it did. */
  error?: string;
  ms: number;
}

export const DEFAULT_RTOL = 1e-3;
export const DEFAULT_ATOL = 1e-7;

export const readTensor = (path: string): OnnxTensorData => {
  const t = decodeTensor(readFileSync(path), basename(path));
  return { dims: t.dims, data: t.data, dataType: t.dataType };
};

/** arange(n).reshape(shape) / n as float32. */
export function arangeInput(dims: number[]): OnnxTensorData {
  const n = dims.reduce((a, b) => a * b, 1);
  return { dims, data: Float32Array.from({ length: n }, (_, i) => i / n), dataType: DataType.FLOAT };
}

export interface DataSet {
  inputs: OnnxTensorData[] | "arange";
  outputs: OnnxTensorData[];
}

export function caseFiles(path: string): { name: string; model: string; sets: DataSet[] } {
  if (statSync(path).isDirectory()) {
    const model = join(path, "model.onnx");
    if (!existsSync(model)) throw new Error(`${path}: no model.onnx`);
    const sets = readdirSync(path)
      .filter((d) => d.startsWith("test_data_set_"))
      .sort()
      .map((d) => {
        const dir = join(path, d);
        const files = readdirSync(dir);
        const list = (prefix: string) =>
          files
            .filter((f) => f.startsWith(prefix) && f.endsWith(".pb"))
            .sort((a, b) => parseInt(a.slice(prefix.length), 10) - parseInt(b.slice(prefix.length), 10))
            .map((f) => readTensor(join(dir, f)));
        return { inputs: list("input_"), outputs: list("output_") };
      });
    if (sets.length === 0) throw new Error(`${path}: no test_data_set_*`);
    return { name: basename(path), model, sets };
  }
  const expected = join(dirname(path), basename(path, ".onnx") + "_output_0.pb");
  if (!existsSync(expected)) throw new Error(`${path}: no ${basename(expected)} beside it`);
  return { name: basename(path, ".onnx"), model: path, sets: [{ inputs: "arange", outputs: [readTensor(expected)] }] };
}

/** The case paths under a directory: case directories and light_*.onnx files, recursively. */
export function findOnnxCases(root: string): string[] {
  const out: string[] = [];
  if (!statSync(root).isDirectory()) return [root];
  const walk = (dir: string) => {
    if (existsSync(join(dir, "model.onnx"))) {
      out.push(dir);
      return;
    }
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".onnx")) out.push(p);
    }
  };
  walk(root);
  return out;
}

/**
 * Compares outputs with expected tensors (|actual - expected| <= atol + rtol * |expected|; NaN
 * matches NaN, equal infinities match). An output of `type` "float16" holds IEEE half bits (as a
 * session returns it) and is compared by value. Returns the first mismatch (undefined when every
 * element matches) and the largest absolute and relative errors.
 */
export function compareOutputs(
  got: readonly ({ dims: readonly number[]; data: ArrayLike<number | bigint>; type?: string } | undefined)[],
  expected: readonly OnnxTensorData[],
  rtol = DEFAULT_RTOL,
  atol = DEFAULT_ATOL,
): { mismatch?: string; maxAbsError: number; maxRelError: number } {
  let mismatch: string | undefined,
    maxAbsError = 0,
    maxRelError = 0;
  expected.forEach((exp, k) => {
    const out = got[k];
    if (!out) {
      mismatch ??= `output ${k} missing`;
      return;
    }
    if (out.dims.join() !== exp.dims.join()) {
      mismatch ??= `output ${k} has shape [${out.dims.join(",")}], expected [${exp.dims.join(",")}]`;
      return;
    }
    const half = out.type === "float16";
    for (let i = 0; i < exp.data.length; i++) {
      const a = half ? halfToFloat(Number(out.data[i]!)) : Number(out.data[i]!),
        b = exp.data[i]!;
      const bothNaN = Number.isNaN(a) && Number.isNaN(b);
      const err = a === b ? 0 : Math.abs(a - b);
      if (!(err <= atol + rtol * Math.abs(b)) && !bothNaN) mismatch ??= `output ${k} element ${i}: ${a} vs expected ${b}`;
      if (Number.isNaN(err)) {
        if (!bothNaN) maxAbsError = Number.NaN;
      } else if (err > maxAbsError) maxAbsError = err;
      if (b !== 0 && err / Math.abs(b) > maxRelError) maxRelError = err / Math.abs(b);
    }
  });
  return { mismatch, maxAbsError, maxRelError };
}

/** The feeds of a data set for declared inputs: its input files, or arange inputs (light nets). */
export function caseInputs(set: DataSet, declared: readonly { name: string; shape?: readonly (number | string | null)[] }[]): OnnxTensorData[] {
  return set.inputs === "arange" ? declared.map((d) => arangeInput((d.shape ?? []).map((x) => (typeof x === "number" && x > 0 ? x : 1)))) : set.inputs;
}

/** Runs one conformance case through an InferenceSession; never throws (errors become a failed result). */
export async function runOnnxCase(path: string, options: OnnxCaseOptions = {}): Promise<OnnxCaseResult> {
  const t0 = performance.now();
  let name = basename(path),
    maxAbsError = 0,
    maxRelError = 0;
  const done = (passed: boolean, error?: string): OnnxCaseResult => ({ name, passed, maxAbsError, maxRelError, error, ms: performance.now() - t0 });
  let session: InferenceSession | undefined;
  try {
    const files = caseFiles(path);
    name = files.name;
    const engine = options.engine ?? (await init({ build: options.build ?? "auto" }));
    session = InferenceSession.fromBytes(engine, new Uint8Array(readFileSync(files.model)));
    let mismatch: string | undefined;
    for (const set of files.sets) {
      const declared = session.inputMetadata;
      const given = caseInputs(set, declared);
      if (given.length !== declared.length) return done(false, `${given.length} input files for ${declared.length} graph inputs`);
      const feeds: Record<string, OnnxFeedLike> = {};
      declared.forEach((d, k) => {
        const t = given[k]!;
        feeds[d.name] = { dims: t.dims, data: t.data, type: t.dataType === DataType.FLOAT16 ? "float32" : onnxTensorType(t.dataType) };
      });
      const out = session.runSync(feeds);
      const c = compareOutputs(
        session.outputNames.map((n) => out[n] as { dims: readonly number[]; data: ArrayLike<number | bigint>; type?: string } | undefined),
        set.outputs,
        options.rtol,
        options.atol,
      );
      mismatch ??= c.mismatch;
      maxAbsError = Number.isNaN(maxAbsError) ? maxAbsError : Number.isNaN(c.maxAbsError) ? Number.NaN : Math.max(maxAbsError, c.maxAbsError);
      maxRelError = Math.max(maxRelError, c.maxRelError);
    }
    return done(mismatch === undefined, mismatch);
  } catch (err) {
    return done(false, err instanceof Error ? err.message : String(err));
  } finally {
    await session?.release();
  }
}

/** One line of the runner's report: PASS/FAIL, name, max abs and rel error (and why, on failure). */
export function formatOnnxResult(r: OnnxCaseResult): string {
  const e = (x: number) => x.toExponential(2);
  return `${r.passed ? "PASS" : "FAIL"} ${r.name} max_abs=${e(r.maxAbsError)} max_rel=${e(r.maxRelError)}${r.error ? ` (${r.error})` : ""}`;
}
