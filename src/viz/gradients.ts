// Gradient visualisations: saliency maps (Simonyan, Vedaldi & Zisserman 2014), guided
// backpropagation (Springenberg et al. 2015) and class-model images by gradient ascent
// (Simonyan et al. 2014). All run the model in inference mode and use Model.backward, so they work
// on any model with backward planned; they re-plan the model's batch when needed and leave its
// parameter gradients zeroed.
import { fail, fmtShape } from "../errors.js";
import type { Model } from "../model/model.js";
import { sizeOf } from "../tensor.js";
import { checkClass, imageCount, inputShape, planFor, scoreOutput, truncatedModel } from "./common.js";

function requireBackward(op: string, model: Model): void {
  if (!model.hasBackward) fail(op, "the model was built with backward: false: gradients need backward");
}

/** What saliency returns: the input gradient of the class score and its per-pixel map, per image. */
export interface SaliencyResult {
  /** d score / d input, [N, H, W, C] like the images. */
  gradient: Float32Array;
  /** Per pixel the maximum over channels of |gradient|: [N, H, W]. */
  map: Float32Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  /** The class scores (before softmax) [N, K] of the forward pass. */
  scores: Float32Array;
}

function hwc(op: string, model: Model): [number, number, number] {
  const s = inputShape(op, model);
  if (s.length !== 3) fail(op, `needs image inputs [H, W, C], the model's input is ${fmtShape(s)}`);
  return s as [number, number, number];
}

/** max over channels of |g| for each pixel of N HWC images. */
function channelMaxAbs(g: Float32Array, pixels: number, channels: number): Float32Array {
  const map = new Float32Array(pixels);
  for (let p = 0; p < pixels; p++) {
    let m = 0;
    for (let c = 0; c < channels; c++) m = Math.max(m, Math.abs(g[p * channels + c]!));
    map[p] = m;
  }
  return map;
}

/**
 * Image-specific class saliency: the gradient of the class score S_k (the model's output, before
 * softmax) with respect to the input images, and its map max_c |dS_k / dI|. `images` holds N images
 * HWC as the model expects them; `classes` one class for all or one per image.
 */
export function saliency(model: Model, images: ArrayLike<number>, classes: number | ArrayLike<number>): SaliencyResult {
  const op = "saliency";
  requireBackward(op, model);
  const [height, width, channels] = hwc(op, model);
  const n = imageCount(op, model, images);
  const { classes: K } = scoreOutput(op, model);
  const ks = typeof classes === "number" ? new Array<number>(n).fill(classes) : Array.from(classes);
  if (ks.length !== n) fail(op, `${ks.length} classes for ${n} images`);
  ks.forEach((k) => checkClass(op, k, K));
  planFor(model, n);
  const scores = model.forward(images, { training: false }).toArray() as Float32Array;
  const dOut = new Float32Array(n * K);
  ks.forEach((k, i) => (dOut[i * K + k] = 1));
  const gradient = model.backward(dOut).toArray() as Float32Array;
  model.zeroGrads();
  return { gradient, map: channelMaxAbs(gradient, n * height * width, channels), count: n, height, width, channels, scores };
}

/** Which neuron guidedBackprop starts from. */
export interface GuidedOptions {
  /** Start at this layer's output (default: the model's output, i.e. a class score). */
  layer?: string;
  /** The neuron's channel (conv layers: the feature map; dense layers: the unit; the output: the class). Default: the most active. */
  channel?: number;
  /** Its position [row, col] in a conv layer's map (default: where the channel is most active). */
  position?: [number, number];
}

/** The guided-backpropagation gradient of one image and the neuron it started from. */
export interface GuidedResult {
  /** The guided gradient w.r.t. the image [H, W, C]. */
  gradient: Float32Array;
  /** max over channels of |gradient|: [H, W]. */
  map: Float32Array;
  height: number;
  width: number;
  channels: number;
  /** The neuron chosen: layer, flat index in its per-image output, channel and activation value. */
  neuron: { layer: string; index: number; channel: number; value: number };
}

/**
 * Guided backpropagation for one image: the gradient of one neuron of `layer` (every other
 * gradient of that layer set to zero), propagated back to the image with every ReLU passing only
 * positive gradients (Model.backward's `guided` mode).
 */
export function guidedBackprop(model: Model, image: ArrayLike<number>, options: GuidedOptions = {}): GuidedResult {
  const op = "guidedBackprop";
  requireBackward(op, model);
  const [height, width, channels] = hwc(op, model);
  if (imageCount(op, model, image) !== 1) fail(op, `takes one image of ${height * width * channels} values, got ${image.length}`);
  const layer = options.layer ?? model.graph.outputs[0]!;
  const own = layer === model.graph.outputs[0]! && model.graph.outputs.length === 1;
  const m = own ? model : truncatedModel(op, model, layer, 1);
  try {
    planFor(m, 1);
    const y = m.forward(image, { training: false }).toArray() as Float32Array;
    const shape = m.graph.shapes.get(layer)!;
    const C = shape[shape.length - 1]!,
      spatial = sizeOf(shape) / C;
    let channel = options.channel;
    if (channel === undefined) {
      let best = -Infinity;
      for (let i = 0; i < y.length; i++) if (y[i]! > best) [best, channel] = [y[i]!, i % C];
    }
    checkClass(`${op}: channel`, channel!, C);
    let index: number;
    if (options.position) {
      if (shape.length !== 3) fail(op, `position needs a layer with [H, W, C] output, '${layer}' has ${fmtShape(shape)}`);
      const [r, c] = options.position;
      if (!Number.isInteger(r) || !Number.isInteger(c) || r < 0 || c < 0 || r >= shape[0]! || c >= shape[1]!) {
        fail(op, `position [${r}, ${c}] is outside the ${shape[0]}x${shape[1]} map of '${layer}'`);
      }
      index = (r * shape[1]! + c) * C + channel!;
    } else {
      index = channel!;
      for (let p = 1; p < spatial; p++) if (y[p * C + channel!]! > y[index]!) index = p * C + channel!;
    }
    const dOut = new Float32Array(y.length);
    dOut[index] = 1;
    const gradient = m.backward(dOut, { guided: true }).toArray() as Float32Array;
    m.zeroGrads();
    return {
      gradient,
      map: channelMaxAbs(gradient, height * width, channels),
      height,
      width,
      channels,
      neuron: { layer, index, channel: channel!, value: y[index]! },
    };
  } finally {
    if (m !== model) m.dispose();
  }
}

/** Options of classModel: steps, step size and regularisation of the gradient ascent. */
export interface ClassModelOptions {
  /** Gradient-ascent steps (default 200). */
  steps?: number;
  /** Step size (default 1). */
  lr?: number;
  /** Weight of the L2 regulariser: maximises S_k(I) - l2 * ||I||^2 (default 0.01). */
  l2?: number;
  /** Called after each step with the score S_k of the image before the step. */
  onStep?: (step: number, score: number) => void;
}

/** The image classModel made and the class score along the way. */
export interface ClassModelResult {
  /** The image [H, W, C] (in the model's input units) after the last step. */
  image: Float32Array;
  /** S_k before each step, then of the final image: steps + 1 values. */
  scores: number[];
  height: number;
  width: number;
  channels: number;
}

/**
 * Class-model visualisation: gradient ascent on the image, from a zero image, of the class score
 * S_k (before softmax) minus an L2 penalty: I <- I + lr * (dS_k/dI - 2 * l2 * I).
 */
export function classModel(model: Model, classIndex: number, options: ClassModelOptions = {}): ClassModelResult {
  const op = "classModel";
  requireBackward(op, model);
  const [height, width, channels] = hwc(op, model);
  const { classes: K } = scoreOutput(op, model);
  checkClass(op, classIndex, K);
  const steps = options.steps ?? 200,
    lr = options.lr ?? 1,
    l2 = options.l2 ?? 0.01;
  if (!Number.isInteger(steps) || steps < 0) fail(op, `steps must be a non-negative integer, got ${steps}`);
  if (!Number.isFinite(lr) || lr <= 0) fail(op, `lr must be a positive number, got ${lr}`);
  if (!Number.isFinite(l2) || l2 < 0) fail(op, `l2 must be a non-negative number, got ${l2}`);
  planFor(model, 1);
  const image = new Float32Array(height * width * channels);
  const dOut = new Float32Array(K);
  dOut[classIndex] = 1;
  const scores: number[] = [];
  for (let s = 0; s <= steps; s++) {
    const score = model.forward(image, { training: false }).data[classIndex]!;
    scores.push(score);
    if (s === steps) break;
    options.onStep?.(s, score);
    const g = model.backward(dOut).data;
    for (let i = 0; i < image.length; i++) image[i] = image[i]! + lr * (g[i]! - 2 * l2 * image[i]!);
  }
  model.zeroGrads();
  return { image, scores, height, width, channels };
}
