// Exporting a Model to ONNX (opset 13). The ONNX graph is NCHW as ONNX expects: image tensors
// (per-image [H, W, C] in the model) are [N, C, H, W] values, conv weights are written back as OIHW
// (ConvTranspose IOHW), dense weights [in, out] as Gemm's B. Where the model reads an image in its
// memory order (flatten, dense, reshape of an NHWC tensor) the exporter inserts
// Transpose(0, 2, 3, 1) so the element order matches. The batch dimension is symbolic ("N").
import { fail } from "../errors.js";
import type { CompiledNode } from "../model/graph.js";
import type { Model } from "../model/model.js";
import type { ActivationName } from "../model/spec.js";
import type { Shape } from "../tensor.js";
import { permute } from "./indexing.js";
import { AttributeType, type AttributeProto, DataType, encodeModel, type NodeProto, type TensorProto } from "./onnx-proto.js";

/** Options of exportOnnx: names written into the file. */
export interface ExportOnnxOptions {
  /** ModelProto.producer_name (default "simdnet"). */
  producerName?: string;
  /** Graph name (default "simdnet"). */
  graphName?: string;
}

type Layout = "nhwc" | "onnx";

/** An ONNX value standing for a model tensor: its name and how the model's memory relates to it. */
interface Val {
  name: string;
  layout: Layout;
  /** Per-image model shape. */
  shape: Shape;
}

const ints = (name: string, v: readonly number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints: [...v] });
const int = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.INT, i: v });
const float = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f: v });
const str = (name: string, v: string): AttributeProto => ({ name, type: AttributeType.STRING, s: v });
const pair = (v: unknown, dflt: number): [number, number] => (v === undefined ? [dflt, dflt] : typeof v === "number" ? [v, v] : (v as [number, number]));

class Writer {
  readonly nodes: NodeProto[] = [];
  readonly inits: TensorProto[] = [];
  private readonly taken = new Set<string>();

  unique(base: string): string {
    let n = base;
    for (let k = 2; this.taken.has(n); k++) n = `${base}_${k}`;
    this.taken.add(n);
    return n;
  }

  node(opType: string, input: string[], attrs: AttributeProto[] = [], base = opType): string {
    const out = this.unique(base);
    this.nodes.push({ name: out, opType, domain: "", input, output: [out], attribute: attrs });
    return out;
  }

  floatInit(base: string, dims: number[], data: ArrayLike<number>): string {
    const name = this.unique(base);
    this.inits.push({ name, dims, dataType: DataType.FLOAT, data: Float32Array.from(data) });
    return name;
  }

  int64Init(base: string, data: number[]): string {
    const name = this.unique(base);
    this.inits.push({ name, dims: [data.length], dataType: DataType.INT64, data: Float64Array.from(data) });
    return name;
  }

  /** The value with the model's memory order: NHWC images get Transpose(0, 2, 3, 1). */
  memoryOrder(v: Val): string {
    return v.layout === "onnx" ? v.name : this.node("Transpose", [v.name], [ints("perm", [0, 2, 3, 1])], `${v.name}_nhwc`);
  }

  /** The value as an NCHW image (a rank-3 per-image tensor in memory order is read as HWC). */
  nchw(v: Val): string {
    if (v.layout === "nhwc") return v.name;
    if (v.shape.length !== 3) fail("exportOnnx", `'${v.name}' (per-image ${JSON.stringify(v.shape)}) is not an image`);
    return this.node("Transpose", [v.name], [ints("perm", [0, 3, 1, 2])], `${v.name}_nchw`);
  }
}

function padAttrs(pad: unknown): AttributeProto[] {
  if (pad === "same") return [str("auto_pad", "SAME_UPPER")];
  if (pad === "sameLower") return [str("auto_pad", "SAME_LOWER")];
  if (pad === "valid") return [str("auto_pad", "VALID")];
  const p = pad === undefined ? 0 : pad;
  return [ints("pads", typeof p === "number" ? [p, p, p, p] : (p as number[]))];
}

/** ONNX axis of a per-image model axis of a value. */
const onnxAxis = (v: Val, axis: number): number => (v.layout === "nhwc" ? [2, 3, 1][axis]! : axis + 1);

/** Writes one model node; returns its output value (before any fused activation). */
function writeNode(w: Writer, n: CompiledNode, xs: Val[], param: (p: string) => Float32Array, base: string): Val {
  const s = n.spec;
  const x = xs[0]!;
  const out = (name: string, layout: Layout): Val => ({ name, layout, shape: n.shape });
  const weight = (p: string, dims: number[], data: Float32Array) => w.floatInit(`${n.name}.${p}`, dims, data);
  switch (n.type) {
    case "conv":
    case "convTranspose": {
      const t = n.type === "conv";
      const p = n.params.find((q) => q.name === "weight")!;
      const [kh, kw, a, b] = p.shape as [number, number, number, number];
      const inputs = [w.nchw(x), weight("weight", [b, a, kh, kw], permute(param("weight"), p.shape, [3, 2, 0, 1]))];
      if (n.params.some((q) => q.name === "bias")) inputs.push(weight("bias", [n.shape[2]!], param("bias")));
      const attrs = [
        ints("kernel_shape", [kh, kw]),
        ints("strides", pair(s.stride, 1)),
        ints("dilations", pair(s.dilation, 1)),
        int("group", (s.groups as number | undefined) ?? 1),
        ...padAttrs(s.pad),
      ];
      if (!t) {
        attrs.push(ints("output_padding", pair(s.outputPadding, 0)));
        if (s.outputShape) attrs.push(ints("output_shape", s.outputShape as number[]));
      }
      return out(w.node(t ? "Conv" : "ConvTranspose", inputs, attrs, base), "nhwc");
    }
    case "pool": {
      const size = pair(s.size, 1);
      const attrs = [
        ints("kernel_shape", size),
        ints("strides", s.stride === undefined ? size : pair(s.stride, 1)),
        ...padAttrs(s.pad),
        int("ceil_mode", s.ceil ? 1 : 0),
      ];
      const dil = pair(s.dilation, 1);
      if (s.mode === "max") {
        if (dil.some((d) => d !== 1)) attrs.push(ints("dilations", dil));
        return out(w.node("MaxPool", [w.nchw(x)], attrs, base), "nhwc");
      }
      if (dil.some((d) => d !== 1)) fail("exportOnnx", `layer '${n.name}': dilated average pooling needs opset 19`);
      attrs.push(int("count_include_pad", s.countIncludePad ? 1 : 0));
      return out(w.node("AveragePool", [w.nchw(x)], attrs, base), "nhwc");
    }
    case "globalPool":
      return out(w.node(s.mode === "max" ? "GlobalMaxPool" : "GlobalAveragePool", [w.nchw(x)], [], base), "nhwc");
    case "dense": {
      const flat = x.shape.length === 1 ? x.name : w.node("Flatten", [w.memoryOrder(x)], [int("axis", 1)], `${n.name}_flat`);
      const p = n.params.find((q) => q.name === "weight")!;
      const inputs = [flat, weight("weight", [...p.shape], param("weight"))];
      if (n.params.some((q) => q.name === "bias")) inputs.push(weight("bias", [p.shape[1]!], param("bias")));
      return out(w.node("Gemm", inputs, [], base), "onnx");
    }
    case "flatten":
      return out(w.node("Flatten", [w.memoryOrder(x)], [int("axis", 1)], base), "onnx");
    case "reshape":
      return out(w.node("Reshape", [w.memoryOrder(x), w.int64Init(`${n.name}.shape`, [0, ...(s.shape as number[])])], [], base), "onnx");
    case "transpose": {
      // the importer's layout changes are the identity on ONNX values
      if (s.to === "nhwc" && x.layout === "onnx" && x.shape.length === 3) return { name: x.name, layout: "nhwc", shape: n.shape };
      if (s.to === "nchw" && x.layout === "nhwc") return { name: x.name, layout: "onnx", shape: n.shape };
      const perm = [0, ...(s.perm as number[]).map((i) => i + 1)];
      return out(w.node("Transpose", [w.memoryOrder(x)], [ints("perm", perm)], base), "onnx");
    }
    case "relu":
    case "sigmoid":
    case "tanh":
    case "leakyRelu": {
      const op = { relu: "Relu", sigmoid: "Sigmoid", tanh: "Tanh", leakyRelu: "LeakyRelu" }[n.type]!;
      return out(w.node(op, [x.name], n.type === "leakyRelu" ? [float("alpha", (s.alpha as number | undefined) ?? 0.01)] : [], base), x.layout);
    }
    case "softmax":
    case "logSoftmax":
      return out(w.node(n.type === "softmax" ? "Softmax" : "LogSoftmax", [x.name], [int("axis", x.layout === "nhwc" ? 1 : -1)], base), x.layout);
    case "prelu": {
      const slope = param("slope");
      const dims = slope.length === 1 ? [1] : x.layout === "nhwc" ? [slope.length, 1, 1] : [slope.length];
      return out(w.node("PRelu", [x.name, weight("slope", dims, slope)], [], base), x.layout);
    }
    case "batchNorm": {
      if (x.layout === "onnx" && x.shape.length !== 1)
        fail("exportOnnx", `layer '${n.name}': batch norm over the last axis of a per-image ${JSON.stringify(x.shape)} tensor has no NCHW form`);
      const C = n.shape[n.shape.length - 1]!;
      const inputs = [x.name, ...["weight", "bias", "runningMean", "runningVar"].map((p) => weight(p, [C], param(p)))];
      const attrs = [float("epsilon", (s.epsilon as number | undefined) ?? 1e-5), float("momentum", (s.momentum as number | undefined) ?? 0.9)];
      return out(w.node("BatchNormalization", inputs, attrs, base), x.layout);
    }
    case "lrn":
      return out(
        w.node(
          "LRN",
          [w.nchw(x)],
          [
            int("size", s.size as number),
            float("alpha", (s.alpha as number | undefined) ?? 1e-4),
            float("beta", (s.beta as number | undefined) ?? 0.75),
            float("bias", (s.bias as number | undefined) ?? 1),
          ],
          base,
        ),
        "nhwc",
      );
    case "dropout":
      return out(w.node("Identity", [x.name], [], base), x.layout); // inference: the identity
    case "add": {
      const same = xs.every((v) => v.layout === x.layout);
      const names = same ? xs.map((v) => v.name) : xs.map((v) => w.nchw(v));
      return out(w.node(xs.length === 2 ? "Add" : "Sum", names, [], base), same ? x.layout : "nhwc");
    }
    case "concat":
    case "concatAxis": {
      const axis = n.type === "concat" ? x.shape.length - 1 : (s.axis as number);
      const same = xs.every((v) => v.layout === x.layout);
      const names = same ? xs.map((v) => v.name) : xs.map((v) => w.memoryOrder(v));
      const layout: Layout = same ? x.layout : "onnx";
      const ax = layout === "nhwc" ? onnxAxis(x, axis) : axis + 1;
      return out(w.node("Concat", names, [int("axis", ax)], base), layout);
    }
    case "pad": {
      const r = x.shape.length,
        pads = s.pads as number[];
      const begin = new Array<number>(r + 1).fill(0),
        end = new Array<number>(r + 1).fill(0);
      for (let a = 0; a < r; a++) {
        begin[onnxAxis(x, a)] = pads[a]!;
        end[onnxAxis(x, a)] = pads[a + r]!;
      }
      const inputs = [x.name, w.int64Init(`${n.name}.pads`, [...begin, ...end]), w.floatInit(`${n.name}.value`, [], [(s.value as number | undefined) ?? 0])];
      return out(w.node("Pad", inputs, [str("mode", (s.mode as string | undefined) ?? "constant")], base), x.layout);
    }
    case "resize": {
      const r = x.shape.length,
        sc = s.scales as number[];
      const scales = new Array<number>(r + 1).fill(1);
      for (let a = 0; a < r; a++) scales[onnxAxis(x, a)] = sc[a]!;
      const inputs = [x.name, "", w.floatInit(`${n.name}.scales`, [r + 1], scales)];
      return out(
        w.node(
          "Resize",
          inputs,
          [
            str("mode", "nearest"),
            str("coordinate_transformation_mode", (s.coordinateMode as string | undefined) ?? "asymmetric"),
            str("nearest_mode", (s.nearestMode as string | undefined) ?? "floor"),
          ],
          base,
        ),
        x.layout,
      );
    }
    case "rnn":
    case "gru":
    case "lstm":
      return out(writeRecurrent(w, n, xs, param, base), "onnx");
    case "embedding": {
      const p = n.params.find((q) => q.name === "weight")!;
      const ids = w.node("Cast", [w.memoryOrder(x)], [int("to", DataType.INT64)], `${n.name}_ids`);
      return out(w.node("Gather", [weight("weight", [...p.shape], param("weight")), ids], [int("axis", 0)], base), "onnx");
    }
    case "timeDense": {
      const p = n.params.find((q) => q.name === "weight")!;
      const hasBias = n.params.some((q) => q.name === "bias");
      const y = w.node("MatMul", [w.memoryOrder(x), weight("weight", [...p.shape], param("weight"))], [], hasBias ? `${n.name}_matmul` : base);
      return out(hasBias ? w.node("Add", [y, weight("bias", [p.shape[1]!], param("bias"))], [], base) : y, "onnx");
    }
    default:
      fail("exportOnnx", `layer '${n.name}': layer type '${n.type}' has no ONNX export`);
  }
}

/**
 * A recurrent layer (batch-first [N, T, I] in the model) as ONNX RNN / GRU / LSTM (opset 13: time-first
 * X [T, N, I], Y [T, nd, N, H]), with Transposes around it and W, R transposed back to ONNX's [nd, G*H, I]
 * and [nd, G*H, H]. A lengths input becomes sequence_lens (int32). A stateful layer is written stateless
 * (zero initial states): the carried state is not part of an ONNX graph.
 */
function writeRecurrent(w: Writer, n: CompiledNode, xs: Val[], param: (p: string) => Float32Array, base: string): string {
  const s = n.spec,
    cell = n.type as "rnn" | "gru" | "lstm";
  const x = xs[0]!,
    [T, I] = x.shape as [number, number];
  const H = s.units as number,
    G = { rnn: 1, gru: 3, lstm: 4 }[cell],
    nd = s.direction === "bidirectional" ? 2 : 1;
  const init = (p: string, dims: number[], data: Float32Array) => w.floatInit(`${n.name}.${p}`, dims, data);
  const inputs = [
    w.node("Transpose", [x.name], [ints("perm", [1, 0, 2])], `${n.name}_time_major`),
    init("weight", [nd, G * H, I], permute(param("weight"), [nd, I, G * H], [0, 2, 1])),
    init("recurrence", [nd, G * H, H], permute(param("recurrence"), [nd, H, G * H], [0, 2, 1])),
    init("bias", [nd, 2 * G * H], param("bias")),
  ];
  if (xs[1]) {
    const flat = w.node("Reshape", [xs[1].name, w.int64Init(`${n.name}.lengths_shape`, [-1])], [], `${n.name}_lengths`);
    inputs.push(w.node("Cast", [flat], [int("to", DataType.INT32)], `${n.name}_sequence_lens`));
  } else if (s.peepholes) inputs.push("");
  if (s.peepholes) inputs.push("", "", init("peepholes", [nd, 3 * H], param("peepholes")));
  const attrs = [int("hidden_size", H), str("direction", (s.direction as string | undefined) ?? "forward")];
  if (cell === "rnn" && s.nonlinearity === "relu")
    attrs.push({ name: "activations", type: AttributeType.STRINGS, strings: nd === 2 ? ["Relu", "Relu"] : ["Relu"] });
  if (cell === "gru" && s.linearBeforeReset) attrs.push(int("linear_before_reset", 1));
  const op = { rnn: "RNN", gru: "GRU", lstm: "LSTM" }[cell];
  const y = w.unique(`${n.name}_Y`),
    yH = w.unique(`${n.name}_Y_h`);
  w.nodes.push({ name: w.unique(`${n.name}_${op}`), opType: op, domain: "", input: inputs, output: [y, yH], attribute: attrs });
  if (s.returnSequences) {
    // Y [T, nd, N, H] -> [N, T, nd, H] -> [N, T, nd * H]
    const t = w.node("Transpose", [y], [ints("perm", [2, 0, 1, 3])], `${n.name}_batch_first`);
    return w.node("Reshape", [t, w.int64Init(`${n.name}.shape`, [0, T, nd * H])], [], base);
  }
  // Y_h [nd, N, H] -> [N, nd, H] -> [N, nd * H]
  const t = w.node("Transpose", [yH], [ints("perm", [1, 0, 2])], `${n.name}_batch_first`);
  return w.node("Reshape", [t, w.int64Init(`${n.name}.shape`, [0, nd * H])], [], base);
}

function writeActivation(w: Writer, act: ActivationName, v: Val, n: CompiledNode): Val {
  if (act === "none") return v;
  const op = { relu: "Relu", leakyRelu: "LeakyRelu", sigmoid: "Sigmoid", tanh: "Tanh", softmax: "Softmax" }[act];
  const attrs =
    act === "leakyRelu" ? [float("alpha", (n.spec.alpha as number | undefined) ?? 0.01)] : act === "softmax" ? [int("axis", v.layout === "nhwc" ? 1 : -1)] : [];
  return { ...v, name: w.node(op, [v.name], attrs, n.name) };
}

/**
 * The model as ONNX bytes (opset 13, NCHW inputs and outputs, symbolic batch "N"). Parameters and
 * batch-norm running statistics are written as initializers with their model names
 * (`conv1.weight`); dropout is written as Identity (an inference graph).
 */
export function exportOnnx(model: Model, options: ExportOnnxOptions = {}): Uint8Array {
  const g = model.graph;
  const w = new Writer();
  const state = model.stateDict();
  const vals = new Map<string, Val>();
  const input = g.inputs.map((i) => {
    w.unique(i.name);
    const layout: Layout = i.shape.length === 3 ? "nhwc" : "onnx";
    vals.set(i.name, { name: i.name, layout, shape: i.shape });
    const dims = layout === "nhwc" ? [i.shape[2]!, i.shape[0]!, i.shape[1]!] : i.shape;
    return { name: i.name, elemType: DataType.FLOAT, shape: ["N", ...dims] };
  });
  for (const n of g.nodes) {
    const param = (p: string) => state.get(`${n.name}.${p}`)!.data.slice();
    const y = writeNode(
      w,
      n,
      n.inputs.map((i) => vals.get(i)!),
      param,
      n.activation === "none" ? n.name : `${n.name}_pre`,
    );
    vals.set(n.name, writeActivation(w, n.activation, y, n));
  }
  // graph outputs carry the model's names (an Identity where the value has another name)
  const output = g.outputs.map((o) => {
    const v = vals.get(o)!;
    let name = v.name;
    if (name !== o) {
      w.nodes.push({ name: `${o}_output`, opType: "Identity", domain: "", input: [name], output: [o], attribute: [] });
      name = o;
    }
    const dims = v.layout === "nhwc" ? [v.shape[2]!, v.shape[0]!, v.shape[1]!] : v.shape;
    return { name, elemType: DataType.FLOAT, shape: ["N", ...dims] };
  });
  return encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 13 }],
    producerName: options.producerName ?? "simdnet",
    producerVersion: "",
    domain: "",
    modelVersion: 1,
    docString: "",
    metadataProps: [],
    graph: { name: options.graphName ?? "simdnet", node: w.nodes, initializer: w.inits, input, output, valueInfo: [] },
  });
}
