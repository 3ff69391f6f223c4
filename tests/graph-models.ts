// Small ONNX models built with the project's own encoder, run through InferenceSession and through
// onnxruntime-node (the reference), for the graph-op tests (graph-reduce, graph-norm, graph-quant,
// graph-matmul).
import * as ort from "onnxruntime-node";
import { InferenceSession } from "../src/graph/session.js";
import type { Engine } from "../src/index.js";
import { AttributeType, type AttributeProto, DataType, encodeModel, type NodeProto, type TensorProto } from "../src/onnx/onnx-proto.js";
import { expectClose } from "./harness.js";
import { type ModelSpec, modelProto } from "./model-proto.js";

export const node = (opType: string, input: string[], output: string[], attribute: AttributeProto[] = []): NodeProto => ({
  name: output[0]!,
  opType,
  domain: "",
  input,
  output,
  attribute,
});
export const ints = (name: string, v: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints: v });
export const int = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.INT, i: v });
export const float = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f: v });
export const tensor = (name: string, dims: number[], data: ArrayLike<number>, dataType: number = DataType.FLOAT): TensorProto => ({
  name,
  dims,
  dataType,
  data: dataType === DataType.FLOAT ? Float32Array.from(data) : Float64Array.from(data),
});

export type { ModelSpec } from "./model-proto.js";

export function modelBytes(s: ModelSpec): Uint8Array {
  return encodeModel(modelProto(s));
}

export interface Feed {
  dims: number[];
  data: Float32Array | Int32Array | Uint8Array | Int8Array;
  type?: string;
}
export type Outputs = Record<string, { dims: number[]; data: ArrayLike<number> }>;

const ORT_TYPE: Record<string, string> = { Float32Array: "float32", Int32Array: "int32", Uint8Array: "uint8", Int8Array: "int8" };

/** onnxruntime-node's outputs (int64 as numbers). */
export async function ortRun(bytes: Uint8Array, feeds: Record<string, Feed>): Promise<Outputs> {
  const session = await ort.InferenceSession.create(bytes);
  const input: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(feeds))
    input[k] = new ort.Tensor((v.type ?? ORT_TYPE[v.data.constructor.name]) as "float32", v.data as Float32Array, v.dims);
  const out = await session.run(input);
  const result: Outputs = {};
  for (const [k, t] of Object.entries(out)) {
    const d = t.data as ArrayLike<number | bigint>;
    result[k] = { dims: [...t.dims], data: Array.from({ length: d.length }, (_, i) => Number(d[i]!)) };
  }
  await session.release();
  return result;
}

/** simdnet's outputs through an InferenceSession on engine e. */
export function simdnetRun(e: Engine, bytes: Uint8Array, feeds: Record<string, Feed>): Outputs {
  const s = InferenceSession.fromBytes(e, bytes);
  try {
    const out = s.runSync(feeds);
    const result: Outputs = {};
    for (const [k, t] of Object.entries(out)) {
      const d = t.data as ArrayLike<number | bigint>;
      result[k] = { dims: [...t.dims], data: Array.from({ length: d.length }, (_, i) => Number(d[i]!)) };
    }
    return result;
  } finally {
    void s.release();
  }
}

/** Runs both and checks every output: same dims, values within tolerance. Returns simdnet's. */
export async function expectMatchesOrt(
  e: Engine,
  spec: ModelSpec,
  feeds: Record<string, Feed>,
  { rtol = 1e-5, atol = 1e-5, label = "" } = {},
): Promise<Outputs> {
  const bytes = modelBytes(spec);
  const want = await ortRun(bytes, feeds);
  const got = simdnetRun(e, bytes, feeds);
  for (const [k, w] of Object.entries(want)) {
    const g = got[k];
    if (!g) throw new Error(`${label}: output ${k} missing`);
    expectClose([g.dims.length, ...g.dims], [w.dims.length, ...w.dims], { rtol: 0, atol: 0, label: `${label} ${k} dims` });
    expectClose(g.data, w.data, { rtol, atol, label: `${label} ${k}` });
  }
  return got;
}

/** Runs `feeds` one after another through ONE simdnet session and checks each against onnxruntime. */
export async function expectRunsMatchOrt(e: Engine, spec: ModelSpec, runs: Record<string, Feed>[], tol = 1e-5): Promise<InferenceSession> {
  const bytes = modelBytes(spec);
  const s = InferenceSession.fromBytes(e, bytes);
  for (const [r, feeds] of runs.entries()) {
    const want = await ortRun(bytes, feeds);
    const got = s.runSync(feeds);
    for (const [k, w] of Object.entries(want)) {
      const g = got[k]!;
      expectClose([g.dims.length, ...g.dims], [w.dims.length, ...w.dims], { rtol: 0, atol: 0, label: `run ${r} ${k} dims` });
      expectClose(Array.from(g.data as ArrayLike<number | bigint>, Number), w.data, { rtol: tol, atol: tol, label: `run ${r} ${k}` });
    }
  }
  return s;
}
