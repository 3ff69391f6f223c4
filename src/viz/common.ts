// Shared helpers of the visualisations: the model's single image input, batching flat image
// arrays through a planned model, and sub-models that end at an inner layer.
import { fail, fmtShape } from "../errors.js";
import { Model } from "../model/model.js";
import { sizeOf, type Shape } from "../tensor.js";

/** The per-image shape [H, W, C] (or any shape) of the model's only input. */
export function inputShape(op: string, model: Model): Shape {
  if (!(model instanceof Model)) fail(op, "model must be a simdnet Model (createModel, the zoo, or a model built from an import)");
  const ins = model.graph.inputs;
  if (ins.length !== 1) fail(op, `needs a model with one input, this one has ${ins.length} (${ins.map((i) => i.name).join(", ")})`);
  return ins[0]!.shape;
}

/** Number of images in a flat array of images of the model's input shape. */
export function imageCount(op: string, model: Model, images: ArrayLike<number>): number {
  const shape = inputShape(op, model);
  const per = sizeOf(shape);
  if (!images || typeof images.length !== "number") fail(op, "images must be an array of numbers (N images, HWC, as the model expects)");
  const n = images.length / per;
  if (!Number.isInteger(n) || n < 1) fail(op, `${images.length} values are not a whole number of images of ${fmtShape(shape)} (${per} values each)`);
  return n;
}

/** Plans the model for `batch` images unless it already is (a re-plan invalidates earlier views). */
export function planFor(model: Model, batch: number): void {
  if (model.batch !== batch) model.plan(batch);
}

/** The model's (first) output node, checked to give pre-softmax class scores [N, K]. */
export function scoreOutput(op: string, model: Model): { name: string; classes: number } {
  const name = model.graph.outputs[0]!;
  const node = model.graph.nodes.find((n) => n.name === name);
  const shape = model.graph.shapes.get(name)!;
  if (shape.length !== 1) fail(op, `needs class scores [K] per image as the output, '${name}' gives ${fmtShape(shape)}`);
  if (node && (node.type === "softmax" || node.activation === "softmax")) {
    fail(op, `the output '${name}' is after a softmax: needs the class scores before softmax (build the model without the final softmax)`);
  }
  return { name, classes: shape[0]! };
}

export function checkClass(op: string, k: number, classes: number): number {
  if (!Number.isInteger(k) || k < 0 || k >= classes) fail(op, `class must be an integer in [0, ${classes}), got ${k}`);
  return k;
}

/**
 * A new model computing the original's graph up to (and including) `layer`, which becomes its
 * output, with copies of the parameters it needs. Used to start backward at an inner layer.
 */
export function truncatedModel(op: string, model: Model, layer: string, batch: number): Model {
  const g = model.graph;
  if (!g.nodes.some((n) => n.name === layer)) fail(op, `no layer named '${layer}' (layers: ${g.nodes.map((n) => n.name).join(", ")})`);
  const byName = new Map(g.nodes.map((n) => [n.name, n]));
  const keep = new Set<string>();
  const visit = (name: string) => {
    const n = byName.get(name);
    if (!n || keep.has(name)) return;
    keep.add(name);
    n.inputs.forEach(visit);
  };
  visit(layer);
  const nodes = g.nodes.filter((n) => keep.has(n.name));
  const state = model.stateDict();
  const initialParams = new Map<string, Float32Array>();
  for (const n of nodes) for (const p of n.params) initialParams.set(p.fullName, state.get(p.fullName)!.toArray() as Float32Array);
  return new Model(
    model.engine,
    { inputs: g.inputs.map((i) => ({ name: i.name, shape: [...i.shape] })), nodes: nodes.map((n) => n.spec), outputs: [layer] },
    {
      initialParams,
      batch,
      seed: model.seed,
    },
  );
}
