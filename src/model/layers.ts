// The layer registry: one LayerKind object per layer type says how to check its spec, its output
// shape, its parameters (with their initialisation), the buffers forward saves for backward, and
// how to run forward and backward with the functional ops of src/ops. Adding a layer type is one
// `registerLayer({...})` call; the ONNX importer adds its own kinds (reshape, pad, constants...)
// the same way.
//
// Shapes handed to `outputShape` / `params` are PER IMAGE (HWC for images, [features] for dense
// outputs); tensors in the run contexts are BATCHED ([N, ...per-image shape]).
import type { Engine } from "../engine.js";
import { checkFinite, checkInt, fail, fmtShape } from "../errors.js";
import {
  type Conv2dOptions,
  conv2d,
  conv2dBackwardFilter,
  conv2dBackwardInput,
  conv2dOutputShape,
  convTranspose2d,
  convTranspose2dBackward,
  convTranspose2dOutputShape,
  type ConvTranspose2dOptions,
} from "../ops/conv2d.js";
import { chooseConvAlgorithm, convGeometry, type ConvPass, convTarget, convTransposeGeometry } from "../ops/conv2d_algorithms.js";
import { concat, concatBackward } from "../ops/concat.js";
import { dense } from "../ops/dense.js";
import { add, biasBackward, relu, reluBackward } from "../ops/elementwise.js";
import { leakyRelu, leakyReluBackward, sigmoid, sigmoidBackward, tanh, tanhBackward } from "../ops/activation.js";
import { lrn, lrnBackward, type LrnOptions, lrnWorkspaceBytes } from "../ops/lrn.js";
import {
  avgPool2d,
  avgPool2dBackward,
  globalAvgPool,
  globalAvgPoolBackward,
  globalMaxPool,
  globalMaxPoolBackward,
  maxPool2d,
  maxPool2dBackward,
  type Pool2dOptions,
  pool2dOutputShape,
} from "../ops/pool.js";
import { softmax, softmaxBackward } from "../ops/softmax.js";
import { type DType, type Shape, sizeOf, type Tensor } from "../tensor.js";
import { gemmScratchFloats, gemmThreaded } from "../threads/parallel.js";
import type { ActivationName, AnyNodeSpec, InitKind } from "./spec.js";

/** A parameter a layer owns, named `<node>.<name>` in the model. Shapes do not depend on the batch. */
export interface ParamDef {
  /** e.g. "weight", "bias", "runningMean". */
  name: string;
  shape: Shape;
  /** "he" / "xavier" are replaced by the model's choice for the layer (He before ReLU, else Xavier). */
  init: InitKind | "auto";
  fanIn?: number;
  fanOut?: number;
  /** false for state that is not learned (batch norm running statistics). Default true. */
  trainable?: boolean;
  /** Adjusts the values `init` drew (e.g. an LSTM's forget-gate bias set to 1); not applied to given values. */
  adjust?(values: Float32Array): void;
}

/** A buffer forward writes and backward reads (e.g. max-pool arg-max), BATCHED shape. */
export interface SavedDef {
  name: string;
  shape: Shape;
  dtype?: DType;
}

/** What a layer's forward sees. Tensors are views into the model's planned memory. */
export interface LayerContext {
  readonly engine: Engine;
  readonly spec: AnyNodeSpec;
  /** Batched inputs, in the order of spec.inputs. */
  readonly x: readonly Tensor[];
  /** Batched output; for in-place layers it is x[0] itself. */
  readonly y: Tensor;
  /** Parameters by short name ("weight", "bias", ...). */
  readonly params: Readonly<Record<string, Tensor>>;
  readonly saved: Readonly<Record<string, Tensor>>;
  /** Training or inference mode (of the last forward, in backward). */
  readonly training: boolean;
  /** A fresh seed per training step and layer (dropout). */
  readonly seed: number;
  /** A view of `shape` into the model's scratch memory, valid during this call only (contents undefined). */
  scratch(shape: Shape): Tensor;
  /**
   * The node's workspace: LayerPlan.workspaceBytes bytes (16-byte aligned, contents undefined) of
   * the model's one workspace block, for the ops' options.workspace, valid during this call only.
   */
  readonly workspace: Tensor;
  /** The algorithms planning chose for this node's passes (LayerPlan.algorithms), if any. */
  readonly algorithms: Readonly<Record<string, string>>;
}

/** What a layer's backward sees, in addition. */
export interface LayerBackwardContext extends LayerContext {
  /** Gradient of the loss with respect to y. */
  readonly dy: Tensor;
  /** Gradients of the inputs: ACCUMULATE into them (an input may feed several layers). */
  readonly dx: readonly Tensor[];
  /** Parameter gradients by short name: ACCUMULATE into them. */
  readonly grads: Readonly<Record<string, Tensor>>;
  /** Guided backpropagation (Model.backward's `guided`): ReLU kinds pass only positive gradients (may clamp dy in place). */
  readonly guided?: boolean;
  /** True when the parameter is frozen: its gradient is discarded, so skip computing it where cheap. */
  frozen(param: string): boolean;
  /** Per input: false when nobody reads its gradient (a graph input with inputGradient: false), so skip it where cheap. */
  readonly inputGradWanted?: readonly boolean[];
}

/**
 * What Model.plan decides for one node from its batched shapes and the engine: the workspace its
 * forward and backward use (the largest of them), and which algorithm each of its passes runs
 * (layers with a choice, such as conv), so that running allocates nothing and runs what was planned.
 */
export interface LayerPlan {
  /** Bytes of workspace the node's forward and backward calls use (a multiple of 16). */
  workspaceBytes: number;
  /** The algorithm each of the node's passes runs, by pass name (conv layers: conv passes). */
  algorithms?: Readonly<Record<string, string>>;
}

/** What a plan is made for: the engine (its build and threads) and whether backward passes run. */
export interface PlanTarget {
  readonly engine: Engine;
  readonly backward: boolean;
}

/** One layer type. Only `type`, `outputShape`, `forward` and `backward` are required. */
export interface LayerKind {
  readonly type: string;
  /** Number of inputs: an exact count (default 1; 0 for a source such as a constant) or "many" (one or more). */
  readonly arity?: number | "many";
  /** Backward reads the layer's own output y (so no activation may be fused in place after it). */
  readonly readsOutput?: boolean;
  /** The output is input 0 reshaped: it shares its memory and its gradient; forward/backward do nothing. */
  readonly aliasesInput?: boolean;
  /** Forward may overwrite its input (y === x[0]) when the planner finds that safe. */
  readonly inPlace?: boolean;
  /** Checks the spec's fields against the per-image input shapes; returns the per-image output shape. */
  outputShape(spec: AnyNodeSpec, inputs: Shape[]): Shape;
  params?(spec: AnyNodeSpec, inputs: Shape[], output: Shape): ParamDef[];
  /** Saved buffers for a batched input/output geometry. */
  saved?(spec: AnyNodeSpec, inputs: Shape[], output: Shape): SavedDef[];
  /** Floats of model scratch forward or backward may request (batched geometry). */
  scratchFloats?(spec: AnyNodeSpec, inputs: Shape[], output: Shape): number;
  /**
   * Planning for a batched geometry: the workspace the layer's calls need (they get it as
   * ctx.workspace and must allocate nothing) and its algorithm choices. Default: none.
   */
  plan?(spec: AnyNodeSpec, inputs: Shape[], output: Shape, target: PlanTarget): LayerPlan;
  forward(ctx: LayerContext): void;
  backward(ctx: LayerBackwardContext): void;
  /** Clears state carried from one forward to the next (a stateful recurrent layer's h, c): at plan() and Model.resetStates(). */
  resetState?(ctx: LayerContext): void;
}

const registry = new Map<string, LayerKind>();

/** Adds (or replaces) a layer type. */
export function registerLayer(kind: LayerKind): void {
  if (!kind || typeof kind.type !== "string" || !kind.type) fail("registerLayer", "kind.type must be a non-empty string");
  for (const f of ["outputShape", "forward", "backward"] as const) {
    if (typeof kind[f] !== "function") fail("registerLayer", `kind '${kind.type}' needs a ${f} function`);
  }
  registry.set(kind.type, kind);
}

/** The registered kind of `type`, or an error listing the known types. */
export function layerKind(type: string): LayerKind {
  const k = registry.get(type);
  if (!k) fail("model", `unknown layer type '${type}' (known: ${[...registry.keys()].join(", ")})`);
  return k;
}

/** Every registered layer type. */
export const layerTypes = (): string[] => [...registry.keys()];

// ---------------------------------------------------------------------------------------------
// spec field helpers (errors name the node)

const who = (spec: AnyNodeSpec) => `layer '${spec.name}' (${spec.type})`;

function intField(spec: AnyNodeSpec, field: string, dflt: number | undefined, min: number): number {
  const v = spec[field] ?? dflt;
  if (v === undefined) fail(who(spec), `${field} is required`);
  return checkInt(who(spec), field, v as number, min);
}

function numField(spec: AnyNodeSpec, field: string, dflt: number): number {
  return checkFinite(who(spec), field, (spec[field] ?? dflt) as number);
}

function pairField(spec: AnyNodeSpec, field: string, dflt: number, min: number): [number, number] {
  const v = spec[field] ?? dflt;
  const arr = typeof v === "number" ? [v, v] : v;
  if (!Array.isArray(arr) || arr.length !== 2) fail(who(spec), `${field} must be a number or [h, w], got ${JSON.stringify(v)}`);
  return [checkInt(who(spec), `${field}[0]`, arr[0], min), checkInt(who(spec), `${field}[1]`, arr[1], min)];
}

/** pad field -> ONNX pads / autoPad. */
function padOptions(spec: AnyNodeSpec): { pads?: [number, number, number, number]; autoPad?: "SAME_UPPER" | "SAME_LOWER" | "VALID" } {
  const p = spec.pad ?? 0;
  if (p === "same") return { autoPad: "SAME_UPPER" };
  if (p === "sameLower") return { autoPad: "SAME_LOWER" }; // ONNX SAME_LOWER (imported models)
  if (p === "valid") return { autoPad: "VALID" };
  const arr = typeof p === "number" ? [p, p, p, p] : p;
  if (!Array.isArray(arr) || arr.length !== 4) {
    fail(who(spec), `pad must be a number, [top, left, bottom, right], "same", "sameLower" or "valid", got ${JSON.stringify(p)}`);
  }
  return { pads: arr.map((v, i) => checkInt(who(spec), `pad[${i}]`, v, 0)) as [number, number, number, number] };
}

function boolField(spec: AnyNodeSpec, field: string, dflt: boolean): boolean {
  const v = spec[field] ?? dflt;
  if (typeof v !== "boolean") fail(who(spec), `${field} must be a boolean, got ${JSON.stringify(v)}`);
  return v;
}

function imageShape(spec: AnyNodeSpec, s: Shape): [number, number, number] {
  if (s.length !== 3) fail(who(spec), `needs an image input [H, W, C], got per-image shape ${fmtShape(s)}`);
  return s as [number, number, number];
}

/** Runs a shape function of src/ops, prefixing its errors with the node. */
function withNode<T>(spec: AnyNodeSpec, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof Error && !err.message.startsWith("layer '")) err.message = `${who(spec)}: ${err.message}`;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// convolution

function convOptions(spec: AnyNodeSpec): Conv2dOptions {
  return {
    strides: pairField(spec, "stride", 1, 1),
    dilations: pairField(spec, "dilation", 1, 1),
    groups: intField(spec, "groups", 1, 1),
    ...padOptions(spec),
  };
}

function convWeightShape(spec: AnyNodeSpec, cin: number): [number, number, number, number] {
  const [kh, kw] = pairField(spec, "size", 0, 1);
  const filters = intField(spec, "filters", undefined, 1);
  const groups = intField(spec, "groups", 1, 1);
  if (cin % groups !== 0 || filters % groups !== 0) {
    fail(who(spec), `groups ${groups} must divide the ${cin} input channels and the ${filters} filters`);
  }
  return [kh, kw, cin / groups, filters];
}

const hasBias = (spec: AnyNodeSpec) => boolField(spec, "bias", true);

/**
 * A conv layer's plan: the algorithm of each pass it runs (`convPasses`: the conv passes of its
 * forward, then of its backward when planned) and the largest of their workspaces, plus
 * `extraBytes` the layer adds before a backward pass's workspace (convTranspose's temporary).
 */
function planConv(
  spec: AnyNodeSpec,
  geometry: (op: string) => ReturnType<typeof convGeometry>,
  target: PlanTarget,
  convPasses: ConvPass[],
  extraBytes: Partial<Record<ConvPass, number>> = {},
): LayerPlan {
  const g = withNode(spec, () => geometry(who(spec)));
  const t = convTarget(target.engine);
  const passes = target.backward ? convPasses : convPasses.slice(0, 1);
  const algorithms: Record<string, string> = {};
  let workspaceBytes = 0;
  for (const pass of passes) {
    const a = chooseConvAlgorithm(pass, g, t);
    algorithms[pass] = a.name;
    workspaceBytes = Math.max(workspaceBytes, (extraBytes[pass] ?? 0) + a.workspaceBytes(pass, g, t));
  }
  return { workspaceBytes, algorithms };
}

/** A conv layer's op options for this call: the planned algorithms on the node's workspace. */
const runOptions = <T extends Conv2dOptions>(c: LayerContext, options: T): T => ({ ...options, workspace: c.workspace, algorithm: c.algorithms });

registerLayer({
  type: "conv",
  outputShape(spec, [x]) {
    const [h, w, c] = imageShape(spec, x!);
    const ws = convWeightShape(spec, c);
    return withNode(spec, () => conv2dOutputShape([1, h, w, c], ws, convOptions(spec)).slice(1));
  },
  params(spec, [x]) {
    const ws = convWeightShape(spec, x![2]!);
    const [kh, kw, cg, f] = ws;
    const groups = intField(spec, "groups", 1, 1);
    const weight: ParamDef = { name: "weight", shape: ws, init: "auto", fanIn: kh * kw * cg, fanOut: (kh * kw * f) / groups };
    return hasBias(spec) ? [weight, { name: "bias", shape: [f], init: "zeros" }] : [weight];
  },
  plan(spec, [x], _y, target) {
    const w = convWeightShape(spec, x![3]!);
    return planConv(spec, (op) => convGeometry(op, x!, w, convOptions(spec)), target, ["forward", "backward_input", "backward_filter"]);
  },
  forward(c) {
    conv2d(c.x[0]!, c.params.weight!, c.params.bias ?? null, runOptions(c, convOptions(c.spec)), c.y);
  },
  backward(c) {
    // Each pass only where its result is used: no dW for a frozen weight, no dX for an input
    // whose gradient nobody wants (Model.backward's inputGradient: false).
    const x = c.x[0]!,
      w = c.params.weight!,
      opts = runOptions(c, convOptions(c.spec));
    if (c.inputGradWanted?.[0] !== false) conv2dBackwardInput(c.dy, w, x.shape, opts, c.dx[0]);
    if (!c.frozen("weight")) conv2dBackwardFilter(c.dy, x, w.shape, opts, c.grads.weight);
    if (c.params.bias !== undefined && !c.frozen("bias")) biasBackward(c.dy, c.grads.bias);
  },
});

function convTransposeOptions(spec: AnyNodeSpec): ConvTranspose2dOptions {
  const o: ConvTranspose2dOptions = { ...convOptions(spec), outputPadding: pairField(spec, "outputPadding", 0, 0) };
  if (spec.outputShape !== undefined) o.outputShape = pairField(spec, "outputShape", 1, 1); // ONNX output_shape [h, w]
  return o;
}

/** [kh, kw, filters/groups, Cin]. */
function convTransposeWeightShape(spec: AnyNodeSpec, cin: number): [number, number, number, number] {
  const [kh, kw] = pairField(spec, "size", 0, 1);
  const filters = intField(spec, "filters", undefined, 1);
  const groups = intField(spec, "groups", 1, 1);
  if (cin % groups !== 0 || filters % groups !== 0) {
    fail(who(spec), `groups ${groups} must divide the ${cin} input channels and the ${filters} filters`);
  }
  return [kh, kw, filters / groups, cin];
}

registerLayer({
  type: "convTranspose",
  outputShape(spec, [x]) {
    const [h, w, c] = imageShape(spec, x!);
    const ws = convTransposeWeightShape(spec, c);
    return withNode(spec, () => convTranspose2dOutputShape([1, h, w, c], ws, convTransposeOptions(spec)).slice(1));
  },
  params(spec, [x]) {
    const ws = convTransposeWeightShape(spec, x![2]!);
    const [kh, kw, fg, cin] = ws;
    const groups = intField(spec, "groups", 1, 1);
    const weight: ParamDef = { name: "weight", shape: ws, init: "auto", fanIn: (kh * kw * cin) / groups, fanOut: kh * kw * fg };
    return hasBias(spec) ? [weight, { name: "bias", shape: [fg * groups], init: "zeros" }] : [weight];
  },
  plan(spec, [x], _y, target) {
    const w = convTransposeWeightShape(spec, x![3]!);
    // its forward is the conv's backward_input; its dx the conv's forward, accumulated into dx
    // from a temporary of x's size at the workspace's start; its dw the conv's backward_filter
    return planConv(spec, (op) => convTransposeGeometry(op, x!, w, convTransposeOptions(spec)), target, ["backward_input", "forward", "backward_filter"], {
      forward: Math.ceil(sizeOf(x!) / 4) * 16,
      backward_filter: Math.ceil(sizeOf(x!) / 4) * 16,
    });
  },
  forward(c) {
    convTranspose2d(c.x[0]!, c.params.weight!, c.params.bias ?? null, runOptions(c, convTransposeOptions(c.spec)), c.y);
  },
  backward(c) {
    const bias = c.params.bias !== undefined && !c.frozen("bias");
    convTranspose2dBackward(
      c.dy,
      c.x[0]!,
      c.params.weight!,
      runOptions(c, convTransposeOptions(c.spec)),
      { dx: c.dx[0], dw: c.grads.weight, db: bias ? c.grads.bias : undefined },
      bias,
    );
  },
});

// ---------------------------------------------------------------------------------------------
// dense

registerLayer({
  type: "dense",
  outputShape(spec, [x]) {
    if (x!.length < 1) fail(who(spec), `needs a non-scalar input, got ${fmtShape(x!)}`);
    return [intField(spec, "units", undefined, 1)];
  },
  params(spec, [x], [units]) {
    const inF = sizeOf(x!);
    const weight: ParamDef = { name: "weight", shape: [inF, units!], init: "auto", fanIn: inF, fanOut: units! };
    return hasBias(spec) ? [weight, { name: "bias", shape: [units!], init: "zeros" }] : [weight];
  },
  plan(_spec, [x], [units], target) {
    // the forward's product (x . w) needs no scratch; backward's two may copy an operand transposed
    const rows = x![0]!,
      inF = sizeOf(x!) / rows,
      outF = units!;
    const floats = target.backward ? Math.max(gemmScratchFloats(rows, inF, outF, false, true), gemmScratchFloats(inF, outF, rows, true, false)) : 0;
    return { workspaceBytes: Math.ceil(floats / 4) * 16 };
  },
  forward(c) {
    dense(c.x[0]!, c.params.weight!, c.params.bias ?? null, c.y);
  },
  backward(c) {
    // Separate gemm calls so a frozen weight's dW (the largest product) is skipped entirely; over
    // the engine's threads like every other gemm (a direct kernel call here left VGG-16's
    // classifier backward on one thread).
    const x = c.x[0]!,
      w = c.params.weight!,
      e = c.engine,
      ws = c.workspace.ptr;
    const rows = x.shape[0]!,
      inF = w.shape[0]!,
      outF = w.shape[1]!;
    gemmThreaded(e, c.dx[0]!.ptr, c.dy.ptr, w.ptr, rows, inF, outF, false, true, true, ws); // dx += dy . w^T
    if (!c.frozen("weight")) gemmThreaded(e, c.grads.weight!.ptr, x.ptr, c.dy.ptr, inF, outF, rows, true, false, true, ws); // dw += x^T . dy
    if (c.params.bias && !c.frozen("bias")) e.kernels.bias_f32_backward(c.grads.bias!.ptr, c.dy.ptr, rows, outF);
  },
});

// ---------------------------------------------------------------------------------------------
// pooling

function poolOptions(spec: AnyNodeSpec): Pool2dOptions {
  const mode = spec.mode;
  if (mode !== "max" && mode !== "avg") fail(who(spec), `mode must be "max" or "avg", got ${JSON.stringify(mode)}`);
  const size = pairField(spec, "size", 0, 1);
  return {
    kernel: size,
    strides: spec.stride === undefined ? size : pairField(spec, "stride", 1, 1),
    dilations: pairField(spec, "dilation", 1, 1),
    ...padOptions(spec),
    ceilMode: boolField(spec, "ceil", false),
    ...(mode === "avg" ? { countIncludePad: boolField(spec, "countIncludePad", false) } : {}),
  };
}

registerLayer({
  type: "pool",
  outputShape(spec, [x]) {
    const [h, w, c] = imageShape(spec, x!);
    return withNode(spec, () => pool2dOutputShape([1, h, w, c], poolOptions(spec)).slice(1));
  },
  saved(spec, _x, y) {
    return spec.mode === "max" ? [{ name: "argmax", shape: y, dtype: "i32" }] : [];
  },
  forward(c) {
    if (c.spec.mode === "max") maxPool2d(c.x[0]!, poolOptions(c.spec), { y: c.y, argmax: c.saved.argmax });
    else avgPool2d(c.x[0]!, poolOptions(c.spec), c.y);
  },
  backward(c) {
    const x = c.x[0]!;
    if (c.spec.mode === "max") maxPool2dBackward(c.dy, c.saved.argmax!, x.shape, c.dx[0]);
    else avgPool2dBackward(c.dy, x.shape, poolOptions(c.spec), c.dx[0]);
  },
});

registerLayer({
  type: "globalPool",
  outputShape(spec, [x]) {
    const [, , c] = imageShape(spec, x!);
    if (spec.mode !== "max" && spec.mode !== "avg") fail(who(spec), `mode must be "max" or "avg", got ${JSON.stringify(spec.mode)}`);
    return [1, 1, c];
  },
  saved(spec, _x, y) {
    return spec.mode === "max" ? [{ name: "argmax", shape: y, dtype: "i32" }] : [];
  },
  forward(c) {
    if (c.spec.mode === "max") globalMaxPool(c.x[0]!, { y: c.y, argmax: c.saved.argmax });
    else globalAvgPool(c.x[0]!, c.y);
  },
  backward(c) {
    if (c.spec.mode === "max") globalMaxPoolBackward(c.dy, c.saved.argmax!, c.x[0]!.shape, c.dx[0]);
    else globalAvgPoolBackward(c.dy, c.x[0]!.shape, c.dx[0]);
  },
});

// ---------------------------------------------------------------------------------------------
// activations (stand-alone layers and the fused `activation` field)

const sameShapeOut = (_spec: AnyNodeSpec, [x]: Shape[]) => x!;

/** The leakyRelu slope of a spec: finite; a fused one must be > 0 (its backward reads the output's sign). */
export function leakyAlpha(spec: AnyNodeSpec, fused: boolean): number {
  const alpha = numField(spec, "alpha", 0.01);
  if (fused && !(alpha > 0)) fail(who(spec), `a fused leakyRelu needs alpha > 0, got ${alpha}`);
  return alpha;
}

/** Applies a fused activation in place on y. */
export function activationForward(act: ActivationName, spec: AnyNodeSpec, y: Tensor): void {
  if (act === "relu") relu(y, y);
  else if (act === "leakyRelu") leakyRelu(y, leakyAlpha(spec, true), y);
  else if (act === "sigmoid") sigmoid(y, y);
  else if (act === "tanh") tanh(y, y);
  else if (act === "softmax") softmax(y, y);
}

/** dpre += d(activation)/d(pre) . dy, from the activation's output y. */
export function activationBackward(act: ActivationName, spec: AnyNodeSpec, dy: Tensor, y: Tensor, dpre: Tensor): void {
  if (act === "relu") reluBackward(dy, y, dpre);
  // y > 0 exactly where the input was, for alpha > 0: the output can stand in for the input
  else if (act === "leakyRelu") leakyReluBackward(dy, y, leakyAlpha(spec, true), dpre);
  else if (act === "sigmoid") sigmoidBackward(dy, y, dpre);
  else if (act === "tanh") tanhBackward(dy, y, dpre);
  else if (act === "softmax") softmaxBackward(dy, y, dpre);
}

registerLayer({
  type: "relu",
  readsOutput: true,
  outputShape: sameShapeOut,
  forward: (c) => void relu(c.x[0]!, c.y),
  backward(c) {
    if (c.guided) relu(c.dy, c.dy);
    reluBackward(c.dy, c.y, c.dx[0]);
  },
});
registerLayer({
  type: "leakyRelu",
  outputShape: sameShapeOut,
  forward: (c) => void leakyRelu(c.x[0]!, leakyAlpha(c.spec, false), c.y),
  backward: (c) => void leakyReluBackward(c.dy, c.x[0]!, leakyAlpha(c.spec, false), c.dx[0]),
});
registerLayer({
  type: "sigmoid",
  readsOutput: true,
  outputShape: sameShapeOut,
  forward: (c) => void sigmoid(c.x[0]!, c.y),
  backward: (c) => void sigmoidBackward(c.dy, c.y, c.dx[0]),
});
registerLayer({
  type: "tanh",
  readsOutput: true,
  outputShape: sameShapeOut,
  forward: (c) => void tanh(c.x[0]!, c.y),
  backward: (c) => void tanhBackward(c.dy, c.y, c.dx[0]),
});
registerLayer({
  type: "softmax",
  readsOutput: true,
  outputShape: sameShapeOut,
  forward: (c) => void softmax(c.x[0]!, c.y),
  backward: (c) => void softmaxBackward(c.dy, c.y, c.dx[0]),
});

// ---------------------------------------------------------------------------------------------
// normalisation and dropout

const channels = (t: Tensor): [rows: number, C: number] => {
  const C = t.shape[t.rank - 1]!;
  return [t.size / C, C];
};

/**
 * Batch norm normalises by the batch's statistics (and updates its running ones) in training mode,
 * unless its scale and shift are frozen: a frozen layer (transfer learning) keeps its running
 * statistics and runs as in inference, so freezing leaves it bitwise unchanged.
 */
const batchStatistics = (c: LayerContext): boolean => {
  const frozen = (c as Partial<Pick<LayerBackwardContext, "frozen">>).frozen; // the model's contexts carry it in both passes
  return c.training && !(frozen?.("weight") && frozen("bias"));
};

registerLayer({
  type: "batchNorm",
  outputShape(spec, [x]) {
    if (x!.length < 1) fail(who(spec), `needs channels-last input, got ${fmtShape(x!)}`);
    const eps = numField(spec, "epsilon", 1e-5);
    const m = numField(spec, "momentum", 0.9);
    if (eps < 0 || m < 0 || m > 1) fail(who(spec), `epsilon must be >= 0 and momentum in [0, 1], got ${eps} and ${m}`);
    return x!;
  },
  params(_spec, [x]) {
    const C = x![x!.length - 1]!;
    return [
      { name: "weight", shape: [C], init: "ones" },
      { name: "bias", shape: [C], init: "zeros" },
      { name: "runningMean", shape: [C], init: "zeros", trainable: false },
      { name: "runningVar", shape: [C], init: "ones", trainable: false },
    ];
  },
  saved(_spec, [x]) {
    const C = x![x!.length - 1]!;
    return [
      { name: "mean", shape: [C] },
      { name: "invStd", shape: [C] },
    ];
  },
  scratchFloats(_spec, [x]) {
    const C = x![x!.length - 1]!;
    return sizeOf(x!) + 8 * C + 16; // inference-mode backward: dy * scale * invStd and a zero vector; else 4C
  },
  forward(c) {
    const x = c.x[0]!,
      p = c.params,
      k = c.engine.kernels;
    const [rows, C] = channels(x);
    const eps = numField(c.spec, "epsilon", 1e-5);
    const ws = c.scratch([C]);
    if (batchStatistics(c)) {
      k.batchnorm_f32_training(
        c.y.ptr,
        c.saved.mean!.ptr,
        c.saved.invStd!.ptr,
        p.runningMean!.ptr,
        p.runningVar!.ptr,
        x.ptr,
        p.weight!.ptr,
        p.bias!.ptr,
        ws.ptr,
        eps,
        numField(c.spec, "momentum", 0.9),
        1,
        rows,
        C,
      );
    } else {
      k.batchnorm_f32_inference(c.y.ptr, x.ptr, p.weight!.ptr, p.bias!.ptr, p.runningMean!.ptr, p.runningVar!.ptr, ws.ptr, eps, rows, C);
    }
  },
  backward(c) {
    const x = c.x[0]!,
      p = c.params,
      k = c.engine.kernels;
    const [rows, C] = channels(x);
    if (batchStatistics(c)) {
      // the kernel always accumulates dscale and dbias; a frozen one is zeroed by the model
      k.batchnorm_f32_backward(
        c.dx[0]!.ptr,
        c.grads.weight!.ptr,
        c.grads.bias!.ptr,
        c.dy.ptr,
        x.ptr,
        p.weight!.ptr,
        c.saved.mean!.ptr,
        c.saved.invStd!.ptr,
        c.scratch([4 * C]).ptr,
        rows,
        C,
      );
      return;
    }
    // Inference mode (fixed running statistics): y = scale * (x - mean) * invStd + bias is affine in x.
    const eps = numField(c.spec, "epsilon", 1e-5);
    const tmp = c.scratch(x.shape),
      zeros = c.scratch([C]),
      ws = c.scratch([C]);
    k.fill_f32(zeros.ptr, 0, C);
    // tmp = scale * (dy - 0) * invStd + 0: the input gradient
    k.batchnorm_f32_inference(tmp.ptr, c.dy.ptr, p.weight!.ptr, zeros.ptr, zeros.ptr, p.runningVar!.ptr, ws.ptr, eps, rows, C);
    k.axpy_f32(c.dx[0]!.ptr, tmp.ptr, 1, tmp.size);
    if (!c.frozen("bias")) k.bias_f32_backward(c.grads.bias!.ptr, c.dy.ptr, rows, C);
    if (!c.frozen("weight")) {
      const f = c.engine.heap.f32,
        xo = x.ptr >> 2,
        dyo = c.dy.ptr >> 2;
      const mean = p.runningMean!.data,
        vr = p.runningVar!.data,
        ds = c.grads.weight!.data;
      for (let ch = 0; ch < C; ch++) {
        let s = 0;
        for (let r = 0; r < rows; r++) s += f[dyo + r * C + ch]! * (f[xo + r * C + ch]! - mean[ch]!);
        ds[ch] = ds[ch]! + s / Math.sqrt(vr[ch]! + eps);
      }
    }
  },
});

function lrnOptions(spec: AnyNodeSpec): LrnOptions {
  return {
    size: intField(spec, "size", undefined, 1),
    alpha: numField(spec, "alpha", 1e-4),
    beta: numField(spec, "beta", 0.75),
    bias: numField(spec, "bias", 1),
  };
}

registerLayer({
  type: "lrn",
  readsOutput: true,
  outputShape(spec, [x]) {
    const o = lrnOptions(spec);
    if (o.size > 2 ** 31 - 1) fail(who(spec), `size must be at most ${2 ** 31 - 1}, got ${o.size}`);
    return x!;
  },
  plan: (_s, [x]) => ({ workspaceBytes: lrnWorkspaceBytes(x!) }),
  forward: (c) => void lrn(c.x[0]!, { ...lrnOptions(c.spec), workspace: c.workspace }, c.y),
  backward: (c) => void lrnBackward(c.dy, c.x[0]!, c.y, { ...lrnOptions(c.spec), workspace: c.workspace }, c.dx[0]),
});

function dropoutRate(spec: AnyNodeSpec): number {
  const rate = numField(spec, "rate", NaN);
  if (!(rate >= 0 && rate < 1)) fail(who(spec), `rate must be in [0, 1), got ${spec.rate}`);
  return rate;
}

registerLayer({
  type: "dropout",
  inPlace: true,
  outputShape(spec, [x]) {
    dropoutRate(spec);
    return x!;
  },
  saved: (_spec, _x, y) => [{ name: "mask", shape: y }],
  forward(c) {
    const x = c.x[0]!,
      k = c.engine.kernels;
    if (c.training) k.dropout_f32_training(c.y.ptr, c.saved.mask!.ptr, x.ptr, dropoutRate(c.spec), c.seed, x.size);
    else if (c.y.ptr !== x.ptr) k.dropout_f32_inference(c.y.ptr, x.ptr, x.size);
  },
  backward(c) {
    const k = c.engine.kernels;
    if (c.training) k.dropout_f32_backward(c.dx[0]!.ptr, c.dy.ptr, c.saved.mask!.ptr, 1 / (1 - dropoutRate(c.spec)), c.dy.size);
    else k.axpy_f32(c.dx[0]!.ptr, c.dy.ptr, 1, c.dy.size);
  },
});

// ---------------------------------------------------------------------------------------------
// structure: flatten, add, concat

registerLayer({
  type: "flatten",
  aliasesInput: true,
  outputShape: (_spec, [x]) => [sizeOf(x!)],
  forward() {},
  backward() {},
});

registerLayer({
  type: "add",
  arity: "many",
  outputShape(spec, xs) {
    if (xs.length < 2) fail(who(spec), `needs at least 2 inputs, got ${xs.length}`);
    for (const s of xs) {
      if (fmtShape(s) !== fmtShape(xs[0]!)) fail(who(spec), `inputs must have equal shapes, got ${xs.map(fmtShape).join(" and ")}`);
    }
    return xs[0]!;
  },
  forward(c) {
    add(c.x[0]!, c.x[1]!, c.y);
    for (let i = 2; i < c.x.length; i++) add(c.y, c.x[i]!, c.y);
  },
  backward(c) {
    for (const dx of c.dx) c.engine.kernels.axpy_f32(dx.ptr, c.dy.ptr, 1, c.dy.size);
  },
});

registerLayer({
  type: "concat",
  arity: "many",
  outputShape(spec, xs) {
    const r = xs[0]!.length;
    for (const s of xs) {
      if (s.length !== r || s.some((d, i) => i < r - 1 && d !== xs[0]![i])) {
        fail(who(spec), `inputs must agree on every axis but the last (channels), got ${xs.map(fmtShape).join(", ")}`);
      }
    }
    return [...xs[0]!.slice(0, r - 1), xs.reduce((a, s) => a + s[r - 1]!, 0)];
  },
  forward: (c) => void concat(c.x as Tensor[], -1, c.y),
  backward: (c) => void concatBackward(c.dy, c.x as Tensor[], -1, c.dx as Tensor[]),
});
