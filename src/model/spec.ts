// Model definitions as plain data (in the spirit of ConvNetJS): a layer is an object with a `type`
// and its hyper-parameters; a sequential model is an array of them; a graph names its nodes and
// wires them by name. Nothing here allocates or touches an engine.
import { fail, fmtValue } from "../errors.js";
import { checkShapeArg } from "../ops/common.js";
import type { Shape } from "../tensor.js";

/** Point-wise activations a layer may apply to its own output (`activation` field). */
export type ActivationName = "relu" | "leakyRelu" | "sigmoid" | "tanh" | "softmax" | "none";

/**
 * Weight initialisation: He normal (std sqrt(2/fanIn)), Xavier/Glorot normal (std sqrt(2/(fanIn+fanOut))),
 * constants, or orthogonal (recurrent weights: every fanIn x fanIn block an orthogonal matrix, see fillInit).
 */
export type InitKind = "he" | "xavier" | "zeros" | "ones" | "orthogonal";

/** Fields every layer spec may carry. */
export interface LayerCommon {
  /** Layer type: a key of the layer registry (see `registerLayer`). */
  type: string;
  /** Node name; parameters are named `<name>.<param>`. Sequential models default to `<type><k>`. */
  name?: string;
  /** Activation applied in place to the layer's output (default none). Not allowed on layers whose
   *  backward reads their own output (lrn, softmax, sigmoid, tanh) or that alias their input (flatten). */
  activation?: ActivationName;
  /** leakyRelu slope when `activation` is leakyRelu (default 0.01). */
  alpha?: number;
  /** Overrides the weight initialisation chosen from the activation (He for ReLU-like, else Xavier). */
  init?: "he" | "xavier";
}

/** Padding of a conv / pool: a number for every side, [top, left, bottom, right], or an ONNX-like mode. */
export type PadSpec = number | [number, number, number, number] | "same" | "sameLower" | "valid";

/** 2-D convolution (ONNX Conv). Weights [size, size, Cin/groups, filters], bias [filters]. */
export interface ConvSpec extends LayerCommon {
  type: "conv";
  filters: number;
  /** Kernel size: a number (square) or [kh, kw]. */
  size: number | [number, number];
  stride?: number | [number, number];
  /** Default 0. "same": output = ceil(input / stride) (SAME_UPPER); "valid": no padding. */
  pad?: PadSpec;
  dilation?: number | [number, number];
  /** Channel groups (default 1); groups == input channels is a depthwise conv. */
  groups?: number;
  /** Learn a bias (default true; ResNets use false before batch norm). */
  bias?: boolean;
}

/** Transposed 2-D convolution (ONNX ConvTranspose). Weights [size, size, filters/groups, Cin], bias [filters]. */
export interface ConvTransposeSpec extends LayerCommon {
  type: "convTranspose";
  filters: number;
  size: number | [number, number];
  stride?: number | [number, number];
  pad?: PadSpec;
  outputPadding?: number | [number, number];
  /** Output [h, w] (ONNX output_shape): the padding is derived from it. */
  outputShape?: [number, number];
  dilation?: number | [number, number];
  groups?: number;
  bias?: boolean;
}

/** Max or average pooling (ONNX MaxPool / AveragePool); stride defaults to size. */
export interface PoolSpec extends LayerCommon {
  type: "pool";
  mode: "max" | "avg";
  size: number | [number, number];
  stride?: number | [number, number];
  pad?: PadSpec;
  /** Round the output size up (ONNX ceil_mode; Caffe's pooling). Default false. */
  ceil?: boolean;
  dilation?: number | [number, number];
  /** Average pooling: divide by the window size including padding. Default false. */
  countIncludePad?: boolean;
}

/** Pooling over the whole image: [H, W, C] -> [1, 1, C]. */
export interface GlobalPoolSpec extends LayerCommon {
  type: "globalPool";
  mode: "max" | "avg";
}

/** Fully connected: any per-image shape is flattened row-major; weights [in, units], bias [units]. */
export interface DenseSpec extends LayerCommon {
  type: "dense";
  units: number;
  bias?: boolean;
}

/** Stand-alone activation layers (same shape in and out). */
export interface ActivationSpec extends LayerCommon {
  type: "relu" | "sigmoid" | "tanh" | "leakyRelu" | "softmax";
}

/** Batch normalization over the channel (last) axis: weight (scale) [C], bias [C], running mean/var [C]. */
export interface BatchNormSpec extends LayerCommon {
  type: "batchNorm";
  /** Default 1e-5. */
  epsilon?: number;
  /** running = momentum * running + (1 - momentum) * batch. Default 0.9 (ONNX). */
  momentum?: number;
}

/** Local response normalization across channels (ONNX LRN, AlexNet / GoogLeNet). */
export interface LrnSpec extends LayerCommon {
  type: "lrn";
  size: number;
  alpha?: number;
  beta?: number;
  bias?: number;
}

/** Inverted dropout: training drops with probability `rate`, inference is the identity. */
export interface DropoutSpec extends LayerCommon {
  type: "dropout";
  rate: number;
}

/** [H, W, C] -> [H*W*C] (a view: no copy). */
export interface FlattenSpec extends LayerCommon {
  type: "flatten";
}

/** Element-wise sum of two or more inputs of equal shape (residual connections). */
export interface AddSpec extends LayerCommon {
  type: "add";
}

/** Concatenation along the channel axis (the last axis; Inception modules). */
export interface ConcatSpec extends LayerCommon {
  type: "concat";
}

/** The built-in layer specs. Layer kinds registered later accept any object with their `type`. */
export type LayerSpec =
  | ConvSpec
  | ConvTransposeSpec
  | PoolSpec
  | GlobalPoolSpec
  | DenseSpec
  | ActivationSpec
  | BatchNormSpec
  | LrnSpec
  | DropoutSpec
  | FlattenSpec
  | AddSpec
  | ConcatSpec;

/** A layer spec of any registered kind (kinds added by registerLayer carry their own fields). */
export type AnyLayerSpec = LayerSpec | (LayerCommon & { [field: string]: unknown });

/** A graph node: a layer spec plus its name and the names of its inputs (graph inputs or nodes). */
export type NodeSpec = LayerSpec & { name: string; inputs: string[] };

/** Any layer kind's spec, as the registry sees it (registered kinds may add fields). */
export type AnyNodeSpec = LayerCommon & { name: string; inputs: string[]; [field: string]: unknown };

/** A graph model: named inputs with per-image shapes (HWC or [features]), nodes, named outputs. */
export interface GraphSpec {
  inputs: { name: string; shape: Shape }[];
  nodes: (NodeSpec | AnyNodeSpec)[];
  outputs: string[];
}

/** A sequential model: each layer feeds the next. Compiles to a GraphSpec with one input "input". */
export interface SequentialSpec {
  /** Per-image input shape, e.g. [28, 28, 1]. */
  inputShape: Shape;
  layers: AnyLayerSpec[];
}

/** A model as plain data: sequential (a layer array or {inputShape, layers}) or a graph. */
export type ModelSpec = GraphSpec | SequentialSpec;

/** True when the spec is a sequential model (a layer array or {inputShape, layers}), not a graph. */
export const isSequential = (spec: ModelSpec): spec is SequentialSpec => Array.isArray((spec as SequentialSpec).layers);

/**
 * The graph a sequential spec compiles to: one input named "input", nodes named by `name` or
 * `<type><k>` (k counting that type from 1: conv1, conv2, pool1, dense1...), one output.
 */
export function sequentialToGraph(spec: SequentialSpec): GraphSpec {
  if (!spec || typeof spec !== "object" || !Array.isArray(spec.layers))
    fail("model", `a sequential spec needs {inputShape, layers: [...]}, got ${fmtValue(spec)}`);
  checkShapeArg("model", "inputShape", spec.inputShape, { rank: [1, Infinity] });
  spec.layers.forEach((layer, i) => {
    if (!layer || typeof layer !== "object") fail("model", `layers[${i}] must be a layer spec object, got ${fmtValue(layer)}`);
  });
  const counts = new Map<string, number>();
  let prev = "input";
  const nodes = spec.layers.map((layer) => {
    const k = (counts.get(layer.type) ?? 0) + 1;
    counts.set(layer.type, k);
    const name = layer.name ?? `${layer.type}${k}`;
    const node = { ...layer, name, inputs: [prev] } as AnyNodeSpec;
    prev = name;
    return node;
  });
  return { inputs: [{ name: "input", shape: [...spec.inputShape] }], nodes, outputs: [prev] };
}
