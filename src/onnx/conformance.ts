// The ONNX conformance runner (Node only: reads case directories with node:fs).
// A case is either a directory with model.onnx and test_data_set_N/{input,output}_K.pb (the ONNX
// backend test layout), or a `light_<net>.onnx` file next to `light_<net>_output_0.pb`, whose
// inputs are arange(n).reshape(shape) / n (a dimension without a fixed value counts as 1).
// Outputs are compared with |actual - expected| <= atol + rtol * |expected|.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { init, type Engine } from "../engine.js";
import type { BuildName } from "../runtime.js";
import { sizeOfDims } from "./host.js";
import { importOnnx, type OnnxTensorData } from "./model.js";
import { decodeModel, decodeTensor, DataType, type ModelProto } from "./onnx-proto.js";
import { importOnnxModel, NotConvertibleError, weightInputs } from "./to-model.js";

export interface OnnxCaseOptions {
  /** The wasm build to run (ignored when `engine` is given). */
  build?: "auto" | BuildName;
  engine?: Engine;
  rtol?: number;
  atol?: number;
  /** "auto" (default): the Model path when the graph converts, else the executor; or force one. */
  via?: "auto" | "model" | "executor";
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
  /** Which path ran the case: an imported Model, or the phase-1 executor (graphs a Model cannot express). */
  via?: "model" | "executor";
}

export const DEFAULT_RTOL = 1e-3;
export const DEFAULT_ATOL = 1e-7;

export const readTensor = (path: string): OnnxTensorData => {
  const t = decodeTensor(readFileSync(path), basename(path));
  return { dims: t.dims, data: t.data, dataType: t.dataType };
};

/** arange(n).reshape(shape) / n as float32. */
export function arangeInput(dims: number[]): OnnxTensorData {
  const n = sizeOfDims(dims);
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

/** Runs one conformance case; never throws (errors become a failed result). */
export async function runOnnxCase(path: string, options: OnnxCaseOptions = {}): Promise<OnnxCaseResult> {
  const t0 = performance.now();
  const rtol = options.rtol ?? DEFAULT_RTOL,
    atol = options.atol ?? DEFAULT_ATOL;
  let name = basename(path);
  let maxAbsError = 0,
    maxRelError = 0;
  const done = (passed: boolean, error?: string): OnnxCaseResult => ({ name, passed, maxAbsError, maxRelError, error, ms: performance.now() - t0 });
  try {
    const files = caseFiles(path);
    name = files.name;
    const engine = options.engine ?? (await init({ build: options.build ?? "auto" }));
    const proto = decodeModel(readFileSync(files.model));
    const mode = options.via ?? "auto";
    let mismatch: string | undefined;
    const compare = (out: Record<string, OnnxTensorData>, outputs: string[], expected: OnnxTensorData[]) => {
      expected.forEach((exp, k) => {
        const name = outputs[k];
        const got = name === undefined ? undefined : out[name];
        if (!got) {
          mismatch ??= `output ${k} missing`;
          return;
        }
        if (got.dims.join() !== exp.dims.join()) {
          mismatch ??= `output ${k} has shape [${got.dims.join(",")}], expected [${exp.dims.join(",")}]`;
          return;
        }
        for (let i = 0; i < exp.data.length; i++) {
          const a = got.data[i]!,
            b = exp.data[i]!;
          const err = Math.abs(a - b);
          if (!(err <= atol + rtol * Math.abs(b))) mismatch ??= `output ${k} element ${i}: ${a} vs expected ${b}`;
          if (Number.isNaN(err)) maxAbsError = Number.NaN;
          else if (err > maxAbsError) maxAbsError = err;
          if (b !== 0 && err / Math.abs(b) > maxRelError) maxRelError = err / Math.abs(b);
        }
      });
    };
    const inputsOf = (set: DataSet) => {
      const declared = proto.graph.input.filter((i) => !proto.graph.initializer.some((t) => t.name === i.name));
      const feeds =
        set.inputs === "arange" ? declared.map((i) => arangeInput((i.shape ?? []).map((d) => (typeof d === "number" && d > 0 ? d : 1)))) : set.inputs;
      return { declared, feeds };
    };
    if (mode !== "executor") {
      const done2 = runViaModel(engine, proto, files.sets, inputsOf, compare);
      if (done2 === "ok") return { ...done(mismatch === undefined, mismatch), via: "model" };
      if (mode === "model") return { ...done(false, done2), via: "model" };
      maxAbsError = 0;
      maxRelError = 0;
      mismatch = undefined;
    }
    const model = importOnnx(engine, readFileSync(files.model));
    try {
      for (const set of files.sets) {
        const { feeds } = inputsOf(set);
        if (feeds.length !== model.inputs.length) {
          return done(false, `${feeds.length} input files for ${model.inputs.length} graph inputs`);
        }
        compare(model.run(feeds), model.outputs, set.outputs);
      }
      return { ...done(mismatch === undefined, mismatch), via: "executor" };
    } finally {
      model.dispose();
    }
  } catch (err) {
    return done(false, err instanceof Error ? err.message : String(err));
  }
}

/**
 * Runs every data set through an imported Model (inputs read only as weights are bound as
 * constants: they become parameters). Returns "ok" when the model ran (the comparison went into
 * `compare`), or why the graph is not a Model (NotConvertibleError): the caller falls back to the
 * executor. Other errors propagate (the case fails).
 */
function runViaModel(
  engine: Engine,
  proto: ModelProto,
  sets: DataSet[],
  inputsOf: (set: DataSet) => { declared: { name: string }[]; feeds: OnnxTensorData[] },
  compare: (out: Record<string, OnnxTensorData>, outputs: string[], expected: OnnxTensorData[]) => void,
): "ok" | string {
  const weights = new Set(weightInputs(proto));
  for (const set of sets) {
    const { declared, feeds } = inputsOf(set);
    if (feeds.length !== declared.length) throw new Error(`${feeds.length} input files for ${declared.length} graph inputs`);
    const constants: Record<string, OnnxTensorData> = {},
      inputShapes: Record<string, number[]> = {},
      data: Record<string, OnnxTensorData> = {};
    declared.forEach((d, k) => {
      if (weights.has(d.name)) constants[d.name] = feeds[k]!;
      else {
        inputShapes[d.name] = feeds[k]!.dims;
        data[d.name] = feeds[k]!;
      }
    });
    let model;
    try {
      model = importOnnxModel(engine, proto, { constants, inputShapes, backward: false });
    } catch (err) {
      if (err instanceof NotConvertibleError) return err.message;
      throw err;
    }
    try {
      compare(
        model.runOnnx(data),
        proto.graph.output.map((o) => o.name),
        set.outputs,
      );
    } finally {
      model.dispose();
    }
  }
  return "ok";
}

/** One line of the runner's report: PASS/FAIL, name, max abs and rel error (and why, on failure). */
export function formatOnnxResult(r: OnnxCaseResult): string {
  const e = (x: number) => x.toExponential(2);
  return `${r.passed ? "PASS" : "FAIL"} ${r.name} max_abs=${e(r.maxAbsError)} max_rel=${e(r.maxRelError)}${r.via ? ` via=${r.via}` : ""}${r.error ? ` (${r.error})` : ""}`;
}
