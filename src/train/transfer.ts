// Transfer learning: a trained model (the zoo's, loaded weights, or an imported ONNX file) gets a
// new classifier head for C classes, keeps every other weight, and is frozen up to a layer.
import { fail } from "../errors.js";
import { Model } from "../model/model.js";
import type { AnyNodeSpec, GraphSpec } from "../model/spec.js";

/** Options of transferModel. */
export interface TransferOptions {
  /** Classes of the new head. */
  classes: number;
  /** Freeze every parameter of the layers up to and including this one, in graph order (see freezeUntil). */
  freezeUntil?: string;
  /** Seed of the new head's initialisation (default: the source's seed). */
  seed?: number;
}

const SOFTMAX = new Set(["softmax", "logSoftmax"]);

/**
 * A new model for `classes` classes from a trained one: the source's layers and weights (batch-norm
 * statistics included), with its classifier head, the dense layer that produces the output (a
 * trailing softmax is dropped: fit's losses take logits), replaced by a freshly initialised one with
 * `classes` outputs. The source is left as it is; dispose it when no longer needed.
 */
export function transferModel(source: Model, options: TransferOptions): Model {
  const op = "transferModel";
  if (!(source instanceof Model)) fail(op, "source must be a Model");
  if (!options || !Number.isInteger(options.classes) || options.classes < 1) fail(op, `options.classes must be an integer >= 1, got ${options?.classes}`);
  const g = source.graph;
  if (g.outputs.length !== 1) fail(op, `the model has ${g.outputs.length} outputs; a classifier has one`);
  const nodes: AnyNodeSpec[] = g.nodes.map((n) => ({ ...n.spec, name: n.name, inputs: [...n.inputs] }) as AnyNodeSpec);
  let output = g.outputs[0]!;
  for (let n = nodes.find((s) => s.name === output); n && SOFTMAX.has(n.type as string) && n.inputs?.length === 1; n = nodes.find((s) => s.name === output)) {
    nodes.splice(nodes.indexOf(n), 1);
    output = n.inputs[0]!;
  }
  const head = nodes.find((s) => s.name === output);
  if (!head || head.type !== "dense")
    fail(op, `the model's output '${output}' is ${head ? `a ${String(head.type)} layer` : "not a layer"}; transferModel replaces a dense classifier head`);
  const headIndex = nodes.indexOf(head);
  const newHead = { ...head, units: options.classes } as AnyNodeSpec & { activation?: string };
  if (newHead.activation && SOFTMAX.has(newHead.activation)) delete newHead.activation;
  nodes[headIndex] = newHead;
  const spec: GraphSpec = { inputs: g.inputs.map((i) => ({ name: i.name, shape: [...i.shape] })), nodes, outputs: [output] } as GraphSpec;
  const kept = new Map<string, Float32Array>();
  for (const [name, t] of source.stateDict()) if (!name.startsWith(`${head.name}.`)) kept.set(name, t.toArray() as Float32Array);
  const model = new Model(source.engine, spec, { seed: options.seed ?? source.seed, initialParams: kept });
  try {
    if (options.freezeUntil !== undefined) freezeUntil(model, options.freezeUntil);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}

/**
 * Freezes every parameter of the layers from the first up to and including `layer` in the model's
 * graph order (`model.summary()` lists them), and returns the names of the frozen parameters.
 */
export function freezeUntil(model: Model, layer: string): string[] {
  const names = model.graph.nodes.map((n) => n.name);
  const at = names.indexOf(layer);
  if (at < 0) fail("freezeUntil", `no layer named '${layer}' (layers: ${names.slice(0, 12).join(", ")}${names.length > 12 ? ", ..." : ""})`);
  const layers = new Set(names.slice(0, at + 1));
  const frozen = model
    .parameters()
    .filter((p) => layers.has(p.name.slice(0, p.name.lastIndexOf("."))))
    .map((p) => p.name);
  if (frozen.length > 0) model.freeze(frozen);
  return frozen;
}
