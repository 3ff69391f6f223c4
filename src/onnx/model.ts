// importOnnx / OnnxModel: the first ONNX entry point, kept for existing callers as a thin wrapper
// over InferenceSession (src/graph: import, constant folding, planning, wasm kernels). New code
// uses InferenceSession directly.
import type { Engine } from "../engine.js";
import { fail, fmtValue } from "../errors.js";
import { defaultOpset, MAX_OPSET as GRAPH_MAX_OPSET, MIN_OPSET as GRAPH_MIN_OPSET } from "../graph/import.js";
import { InferenceSession, type OnnxFeedLike, type OnnxTensor, onnxTensorType } from "../graph/session.js";
import { DataType, type Dim, decodeModel, halfToFloat, type ModelProto } from "./onnx-proto.js";

/** Lowest default-domain opset accepted. */
export const MIN_OPSET = GRAPH_MIN_OPSET;
/** Newest default-domain opset accepted (a newer opset may change an op: refused, not guessed). */
export const MAX_OPSET = GRAPH_MAX_OPSET;

/** Host data of an ONNX tensor: float32, or float64 for the other element types. */
export type HostData = Float32Array | Float64Array;

/** A tensor going into or out of OnnxModel.run: dims, data (ONNX order) and ONNX data type. */
export interface OnnxTensorData {
  dims: number[];
  /** ONNX row-major order; float tensors as Float32Array, other types as Float64Array. */
  data: HostData;
  dataType: number;
}

/** A graph input's data: dataType defaults to the declared element type (FLOAT if undeclared). */
export interface OnnxFeed {
  dims: number[];
  data: HostData;
  dataType?: number;
}

/** A graph input of an OnnxModel: its name, declared shape and element type. */
export interface OnnxInputInfo {
  name: string;
  /** Declared shape (numbers, symbolic names or null), undefined when the model gives none. */
  shape?: Dim[];
  elemType: number;
}

const DATA_TYPES = [
  DataType.FLOAT,
  DataType.FLOAT16,
  DataType.DOUBLE,
  DataType.INT64,
  DataType.INT32,
  DataType.INT16,
  DataType.INT8,
  DataType.UINT64,
  DataType.UINT32,
  DataType.UINT16,
  DataType.UINT8,
  DataType.BOOL,
];
const dataTypeOf = (t: OnnxTensor): number => DATA_TYPES.find((d) => onnxTensorType(d) === t.type) ?? DataType.FLOAT;

/** An InferenceSession output as OnnxTensorData (float16 halves decoded to float32). */
function tensorData(t: OnnxTensor): OnnxTensorData {
  const dataType = dataTypeOf(t);
  const src = t.data as ArrayLike<number | bigint>;
  const data =
    t.type === "float32"
      ? (t.data as Float32Array)
      : t.type === "float16"
        ? Float32Array.from(t.data as Uint16Array, (h) => halfToFloat(h))
        : Float64Array.from({ length: src.length }, (_, i) => Number(src[i]));
  return { dims: [...t.dims], data, dataType };
}

/**
 * A decoded ONNX model bound to an engine, run through an InferenceSession (`session`).
 * @deprecated Use InferenceSession (`InferenceSession.create`, or `fromBytes` on an engine), which
 * this wraps: `run` here takes and returns OnnxTensorData (float64 for non-float types).
 */
export class OnnxModel {
  /** Graph inputs that are not initializers, in graph order. */
  readonly inputs: OnnxInputInfo[];
  readonly outputs: string[];
  readonly opset: number;
  /** The session that runs the model. */
  readonly session: InferenceSession;

  constructor(
    readonly engine: Engine,
    model: ModelProto | Uint8Array,
  ) {
    const proto = model instanceof Uint8Array ? decodeModel(model) : model;
    if (!proto || typeof proto !== "object" || !proto.graph) fail("importOnnx", `expected ONNX model bytes or a decoded ModelProto, got ${fmtValue(model)}`);
    this.session = InferenceSession.fromModel(engine, proto);
    this.opset = defaultOpset(proto);
    const inits = new Set(proto.graph.initializer.map((t) => t.name));
    this.inputs = proto.graph.input.filter((i) => !inits.has(i.name)).map((i) => ({ name: i.name, shape: i.shape, elemType: i.elemType || DataType.FLOAT }));
    this.outputs = [...this.session.outputNames];
  }

  /**
   * Runs the model. `feeds` maps input names (or, as an array, the non-initializer inputs in
   * order) to data in ONNX layout (NCHW images). Returns every graph output in ONNX layout.
   */
  run(feeds: Record<string, OnnxFeed> | OnnxFeed[]): Record<string, OnnxTensorData> {
    if (!feeds || typeof feeds !== "object") fail("onnx", `feeds must be an object or an array of {dims, data}, got ${fmtValue(feeds)}`);
    const given = Array.isArray(feeds) ? new Map(this.inputs.map((inp, i) => [inp.name, feeds[i]])) : new Map(Object.entries(feeds));
    const session: Record<string, OnnxFeedLike> = {};
    for (const inp of this.inputs) {
      const t = given.get(inp.name);
      if (!t) fail("onnx", `missing input "${inp.name}"`);
      const type = t.dataType === undefined || t.dataType === DataType.FLOAT16 ? undefined : onnxTensorType(t.dataType);
      session[inp.name] = { dims: t.dims, data: t.data, type };
    }
    const out = this.session.runSync(session);
    const result: Record<string, OnnxTensorData> = {};
    for (const name of this.outputs) result[name] = tensorData(out[name]!);
    return result;
  }

  /** Frees the session (its plans and weights). */
  dispose(): void {
    void this.session.release();
  }
}

/**
 * Decodes `.onnx` bytes and prepares the model on `engine` (see OnnxModel).
 * @deprecated Use `InferenceSession.fromBytes(engine, bytes)` (or `InferenceSession.create`).
 */
export function importOnnx(engine: Engine, bytes: Uint8Array): OnnxModel {
  if (!(bytes instanceof Uint8Array)) fail("importOnnx", "bytes must be a Uint8Array");
  return new OnnxModel(engine, bytes);
}
