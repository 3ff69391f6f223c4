// Compiling a model spec: sequential -> graph, name checks, topological order, per-image shape
// inference, parameter definitions with their initialisation, and the storage of each tensor
// (own buffer, alias of its input, or in place over its input). No engine, no allocation: the
// summary of VGG-16 at 224x224 is computed from this alone.
import { fail, fmtShape, fmtValue } from "../errors.js";
import { checkShapeArg } from "../ops/common.js";
import type { Shape } from "../tensor.js";
import { layerKind, type LayerKind, type ParamDef } from "./layers.js";
import "./rnn-layers.js"; // registers the sequence layer kinds (embedding, rnn, gru, lstm, timeDense)
import {
  type ActivationName,
  type AnyNodeSpec,
  type InitKind,
  type GraphSpec,
  isSequential,
  type AnyLayerSpec,
  type ModelSpec,
  sequentialToGraph,
} from "./spec.js";

/** A parameter as the model names it: `<node>.<param>`, with its resolved initialisation. */
export interface CompiledParam extends ParamDef {
  fullName: string;
  init: InitKind;
  trainable: boolean;
}

/**
 * How a tensor is stored: its own buffer; "alias" = the input's buffer reshaped (flatten), sharing
 * its gradient too; "inPlace" = forward overwrites the input's buffer (dropout after a layer whose
 * backward does not need its output), with a gradient buffer of its own.
 */
export type Storage = "own" | "alias" | "inPlace";

export interface CompiledNode {
  name: string;
  type: string;
  kind: LayerKind;
  spec: AnyNodeSpec;
  inputs: string[];
  /** Per-image shapes of the inputs and the output. */
  inputShapes: Shape[];
  shape: Shape;
  activation: ActivationName;
  params: CompiledParam[];
  storage: Storage;
  /** Names of the nodes that read this node's output. */
  consumers: string[];
}

export interface CompiledGraph {
  inputs: { name: string; shape: Shape }[];
  /** In topological order. */
  nodes: CompiledNode[];
  outputs: string[];
  /** Per-image shape of every tensor (inputs and nodes). */
  shapes: Map<string, Shape>;
}

const RELU_LIKE = new Set(["relu", "leakyRelu"]);

/** Accepts a ModelSpec, or a bare array of layers with `inputShape`. */
export function toGraphSpec(spec: ModelSpec | AnyLayerSpec[], inputShape?: Shape): GraphSpec {
  if (Array.isArray(spec)) {
    if (!inputShape) fail("model", "a sequential model given as an array of layers needs options.inputShape");
    return sequentialToGraph({ inputShape, layers: spec });
  }
  if (!spec || typeof spec !== "object") fail("model", `spec must be a layer array, {inputShape, layers} or {inputs, nodes, outputs}, got ${typeof spec}`);
  if (isSequential(spec)) return sequentialToGraph(inputShape ? { ...spec, inputShape } : spec);
  if (!Array.isArray(spec.inputs) || !Array.isArray(spec.nodes) || !Array.isArray(spec.outputs)) {
    fail("model", "a graph spec needs arrays inputs, nodes and outputs");
  }
  if (inputShape) {
    checkShapeArg("model", "inputShape", inputShape, { rank: [1, Infinity] });
    if (spec.inputs.length !== 1) fail("model", `options.inputShape overrides a single input, but the graph has ${spec.inputs.length}`);
    return { ...spec, inputs: [{ name: spec.inputs[0]!.name, shape: [...inputShape] }] };
  }
  return spec;
}

/** Compiles a spec: checks names and wiring, orders the nodes, infers shapes and parameters. */
export function compileGraph(spec: ModelSpec | AnyLayerSpec[], inputShape?: Shape): CompiledGraph {
  const g = toGraphSpec(spec, inputShape);
  const shapes = new Map<string, Shape>();
  for (const inp of g.inputs) {
    if (!inp || typeof inp.name !== "string" || !inp.name) fail("model", `every graph input needs a name, got ${fmtValue(inp)}`);
    if (shapes.has(inp.name)) fail("model", `duplicate input name '${inp.name}'`);
    if (!Array.isArray(inp.shape) || inp.shape.length === 0 || inp.shape.some((d) => !Number.isInteger(d) || d < 1)) {
      fail("model", `input '${inp.name}' needs a per-image shape of positive integers (e.g. [28, 28, 1]), got ${fmtValue(inp.shape)}`);
    }
    shapes.set(inp.name, [...inp.shape]);
  }
  const byName = new Map<string, AnyNodeSpec>();
  for (const n of g.nodes as AnyNodeSpec[]) {
    if (!n || typeof n.name !== "string" || !n.name) fail("model", `every node needs a name, got ${fmtValue(n)}`);
    if (byName.has(n.name) || shapes.has(n.name)) fail("model", `duplicate name '${n.name}'`);
    if (!Array.isArray(n.inputs)) fail("model", `node '${n.name}' needs an inputs array`);
    byName.set(n.name, n);
  }
  for (const n of byName.values()) {
    for (const i of n.inputs) {
      if (!byName.has(i) && !shapes.has(i)) fail("model", `node '${n.name}' reads '${i}', which is neither a graph input nor a node`);
    }
  }
  // Kahn's algorithm level by level (the nodes whose inputs are all done, in written order), in
  // time linear in nodes and edges (plus sorting each level).
  const order: AnyNodeSpec[] = [];
  const done = new Set<string>(shapes.keys());
  const all = [...byName.values()];
  const missing = all.map((n) => n.inputs.filter((i) => !done.has(i)).length); // inputs not done, with repeats
  const readers = new Map<string, number[]>(); // node name -> indices of the nodes reading it (once per read)
  all.forEach((n, k) => {
    for (const i of n.inputs) if (!done.has(i)) (readers.get(i) ?? readers.set(i, []).get(i)!).push(k);
  });
  let level = all.flatMap((_, k) => (missing[k] === 0 ? [k] : []));
  while (level.length > 0) {
    const next: number[] = [];
    for (const k of level) {
      const n = all[k]!;
      order.push(n);
      done.add(n.name);
      for (const r of readers.get(n.name) ?? []) if (--missing[r]! === 0) next.push(r);
    }
    level = next.sort((a, b) => a - b);
  }
  if (order.length < all.length) {
    const pending = all.filter((n) => !done.has(n.name));
    fail(
      "model",
      `the graph has a cycle through ${pending
        .slice(0, 20)
        .map((n) => `'${n.name}'`)
        .join(", ")}${pending.length > 20 ? ` and ${pending.length - 20} more` : ""}`,
    );
  }

  for (const o of g.outputs) if (!done.has(o)) fail("model", `output '${o}' is neither a graph input nor a node`);
  if (g.outputs.length === 0) fail("model", "the graph needs at least one output");

  const nodes: CompiledNode[] = [];
  const consumers = new Map<string, string[]>();
  for (const n of order) for (const i of n.inputs) (consumers.get(i) ?? consumers.set(i, []).get(i)!).push(n.name);
  for (const n of order) {
    const kind = layerKind(n.type);
    const arity = kind.arity ?? 1;
    if (arity === "many" ? n.inputs.length === 0 : n.inputs.length !== arity) {
      fail("model", `layer '${n.name}' (${n.type}) takes ${arity === "many" ? "one or more" : arity} input(s), got ${n.inputs.length}: ${n.inputs.join(", ")}`);
    }
    const inputShapes = n.inputs.map((i) => shapes.get(i)!);
    const shape = [...kind.outputShape(n, inputShapes)];
    if (shape.some((d) => !Number.isInteger(d) || d < 1)) fail("model", `layer '${n.name}' (${n.type}) has an empty output ${fmtShape(shape)}`);
    shapes.set(n.name, shape);
    const activation = (n.activation ?? "none") as ActivationName;
    if (!["none", "relu", "leakyRelu", "sigmoid", "tanh", "softmax"].includes(activation)) {
      fail("model", `layer '${n.name}' (${n.type}): unknown activation '${activation}'`);
    }
    if (activation !== "none" && (kind.readsOutput || kind.aliasesInput)) {
      fail(
        "model",
        `layer '${n.name}' (${n.type}) cannot fuse activation '${activation}' (its backward reads its output or it aliases its input): add a separate ${activation} layer`,
      );
    }
    nodes.push({
      name: n.name,
      type: n.type,
      kind,
      spec: n,
      inputs: [...n.inputs],
      inputShapes,
      shape,
      activation,
      params: [],
      storage: "own",
      consumers: consumers.get(n.name) ?? [],
    });
  }
  const nodeByName = new Map(nodes.map((n) => [n.name, n]));
  const outputs = new Set(g.outputs);
  const inputNames = new Set(g.inputs.map((i) => i.name));

  /** ReLU-like follows this node's output: He init. */
  const reluFollows = (n: CompiledNode): boolean => {
    if (n.activation !== "none") return RELU_LIKE.has(n.activation);
    if (n.consumers.length !== 1) return false;
    const c = nodeByName.get(n.consumers[0]!)!;
    if (RELU_LIKE.has(c.type)) return true;
    return (c.type === "batchNorm" || c.type === "dropout") && reluFollows(c);
  };

  for (const n of nodes) {
    const defs = n.kind.params?.(n.spec, n.inputShapes, n.shape) ?? [];
    const auto = n.spec.init ?? (reluFollows(n) ? "he" : "xavier");
    if (auto !== "he" && auto !== "xavier") fail("model", `layer '${n.name}': init must be "he" or "xavier", got ${fmtValue(auto)}`);
    n.params = defs.map((p) => ({
      ...p,
      fullName: `${n.name}.${p.name}`,
      init: p.init === "auto" ? auto : p.init,
      trainable: p.trainable ?? true,
    }));
    if (n.kind.aliasesInput) n.storage = "alias";
    else if (n.kind.inPlace) {
      const src = nodeByName.get(n.inputs[0]!);
      const safe =
        src !== undefined &&
        !inputNames.has(src.name) &&
        !outputs.has(src.name) &&
        src.consumers.length === 1 &&
        src.storage === "own" &&
        (!src.kind.readsOutput || src.type === "relu") &&
        (src.activation === "none" || src.activation === "relu");
      if (safe) n.storage = "inPlace";
    }
  }
  return { inputs: g.inputs.map((i) => ({ name: i.name, shape: [...i.shape] })), nodes, outputs: [...g.outputs], shapes };
}
