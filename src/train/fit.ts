// The training loop: mini-batch SGD-style training of a classifier model on labelled images, and
// its evaluation. Everything is allocated once before the first step (the model's plan, the label,
// probability and gradient tensors); a step allocates nothing in wasm memory.
import { type Batch, batchCount, batches, type Normalization } from "../data/batches.js";
import type { LabeledImages } from "../data/mnist.js";
import { checkInt, fail } from "../errors.js";
import { checkOptions } from "../ops/common.js";
import type { Model } from "../model/model.js";
import { fill } from "../ops/elementwise.js";
import { softmaxCrossEntropy, softmaxCrossEntropyBackward } from "../ops/softmax.js";
import type { Tensor } from "../tensor.js";
import type { Optimizer } from "./optimizers.js";

/** What fit reports after each training step. */
export interface StepInfo {
  epoch: number;
  /** Step within the epoch, from 1. */
  step: number;
  steps: number;
  loss: number;
  /** Fraction of this batch classified right. */
  accuracy: number;
  /** Training images per second so far in this epoch. */
  imagesPerSecond: number;
}

/** What fit reports after each epoch (and returns, one per epoch). */
export interface EpochInfo {
  epoch: number;
  loss: number;
  accuracy: number;
  imagesPerSecond: number;
  seconds: number;
  lr: number;
}

/** Options of fit: epochs, batch size, optimizer, and what to do along the way. */
export interface FitOptions {
  epochs: number;
  batchSize: number;
  optimizer: Optimizer;
  /** Learning rate per epoch (from 0); sets optimizer.lr before each epoch. */
  schedule?: (epoch: number) => number;
  /** Shuffling seed; epoch e uses seed + e. Default 0. */
  seed?: number;
  normalize?: Normalization;
  /** Random left-right mirroring of training images (see BatchOptions.flip). */
  flip?: boolean;
  onStep?: (info: StepInfo) => void;
  onEpoch?: (info: EpochInfo) => void;
}

/** Reusable tensors of one batch size: labels, probabilities, logit gradients. */
class LossBuffers {
  readonly labels: Tensor;
  readonly probs: Tensor;
  readonly dlogits: Tensor;
  constructor(readonly model: Model, readonly batch: number, classes: number) {
    const e = model.engine;
    this.labels = e.ints([batch]);
    this.probs = e.zeros([batch, classes]);
    this.dlogits = e.zeros([batch, classes]);
  }
  dispose(): void {
    this.labels.dispose();
    this.probs.dispose();
    this.dlogits.dispose();
  }
}

function classesOf(op: string, model: Model): number {
  const shape = model.graph.shapes.get(model.graph.outputs[0]!)!;
  if (shape.length !== 1) fail(op, `the model's output must be a vector of class scores per image, got per-image shape [${shape.join(",")}]`);
  return shape[0]!;
}

/** Index of the largest of the k scores of row r of a row-major [rows, k] array. */
function rowArgmax(v: Float32Array, r: number, k: number): number {
  let best = 0;
  for (let j = 1; j < k; j++) if (v[r * k + j]! > v[r * k + best]!) best = j;
  return best;
}

/** Number of rows of a [rows, classes] tensor whose arg-max equals the label. */
function countCorrect(scores: Tensor, labels: ArrayLike<number>, rows: number): number {
  const v = scores.data, k = scores.shape[scores.shape.length - 1]!;
  let right = 0;
  for (let r = 0; r < rows; r++) if (rowArgmax(v, r, k) === labels[r]) right++;
  return right;
}

/**
 * Trains `model` (per-image output: class scores) with softmax cross-entropy. Batches of exactly
 * `batchSize` (a smaller last batch is dropped); the model is planned for that batch size.
 * Returns the per-epoch history. Throws if the loss becomes non-finite (naming epoch and step).
 */
export function fit(model: Model, data: LabeledImages, options: FitOptions): EpochInfo[] {
  const op = "fit";
  if (options === undefined) fail(op, "options {epochs, batchSize, optimizer} are required");
  checkOptions(op, "options", options);
  const classes = classesOf(op, model);
  const { epochs, batchSize, optimizer } = options;
  checkInt(op, "epochs", epochs, 1);
  checkInt(op, "batchSize", batchSize, 1);
  if (data.count < batchSize) fail(op, `the data set has ${data.count} images, fewer than one batch of ${batchSize}`);
  if (model.batch !== batchSize) model.plan(batchSize);
  const buffers = new LossBuffers(model, batchSize, classes);
  const history: EpochInfo[] = [];
  try {
    const steps = batchCount(data.count, batchSize, true);
    for (let epoch = 1; epoch <= epochs; epoch++) {
      if (options.schedule) optimizer.lr = options.schedule(epoch - 1);
      const started = performance.now();
      let lossSum = 0, right = 0, seen = 0, step = 0;
      for (const batch of batches(data, { batchSize, dropLast: true, seed: (options.seed ?? 0) + epoch, normalize: options.normalize, flip: options.flip })) {
        step++;
        const loss = trainStep(model, optimizer, batch, buffers);
        if (!Number.isFinite(loss)) fail(op, `the loss became ${loss} at epoch ${epoch}, step ${step} (learning rate ${optimizer.lr} too high?)`);
        const correct = countCorrect(buffers.probs, batch.labels, batchSize);
        lossSum += loss;
        right += correct;
        seen += batchSize;
        const seconds = (performance.now() - started) / 1000;
        options.onStep?.({ epoch, step, steps, loss, accuracy: correct / batchSize, imagesPerSecond: seen / seconds });
      }
      const seconds = (performance.now() - started) / 1000;
      const info = { epoch, loss: lossSum / step, accuracy: right / seen, imagesPerSecond: seen / seconds, seconds, lr: optimizer.lr };
      history.push(info);
      options.onEpoch?.(info);
    }
  } finally {
    buffers.dispose();
  }
  return history;
}

/** One forward + backward + update on one batch; returns the mean loss. */
export function trainStep(model: Model, optimizer: Optimizer, batch: Batch, buffers: LossBuffers): number {
  const logits = model.forward(batch.images, { training: true });
  buffers.labels.set(batch.labels);
  const { loss } = softmaxCrossEntropy(logits, buffers.labels, { probs: buffers.probs });
  fill(buffers.dlogits, 0);
  softmaxCrossEntropyBackward(buffers.probs, buffers.labels, 1 / batch.labels.length, buffers.dlogits);
  model.zeroGrads();
  model.backward(buffers.dlogits, { inputGradient: false });
  optimizer.step(model.parameters());
  return loss;
}

/** What evaluate returns: accuracy, mean loss and the predicted class of every image. */
export interface Evaluation {
  accuracy: number;
  loss: number;
  /** Predicted class per image. */
  predictions: Int32Array;
}

/** Accuracy and mean loss of `model` (inference mode) over a whole data set, in batches of the planned size. */
export function evaluate(model: Model, data: LabeledImages, options: { batchSize?: number; normalize?: Normalization } = {}): Evaluation {
  const { batchSize = model.batch || 100, normalize } = checkOptions("evaluate", "options", options);
  const classes = classesOf("evaluate", model);
  checkInt("evaluate", "batchSize", batchSize, 1);
  if (model.batch !== batchSize) model.plan(batchSize);
  const buffers = new LossBuffers(model, batchSize, classes);
  const predictions = new Int32Array(data.count);
  let lossSum = 0, right = 0;
  try {
    for (const batch of batches(data, { batchSize, shuffle: false, normalize })) {
      const n = batch.labels.length;
      // a smaller last batch is padded with zero images; their outputs are ignored
      const images = n === batchSize ? batch.images : padImages(batch.images, batchSize * (batch.images.length / n));
      const labels = n === batchSize ? batch.labels : padLabels(batch.labels, batchSize);
      const logits = model.forward(images, { training: false });
      buffers.labels.set(labels);
      const { loss, probs } = softmaxCrossEntropy(logits, buffers.labels, { probs: buffers.probs });
      // the padded rows' losses are in `loss` too: recompute the mean over the real rows
      lossSum += n === batchSize ? loss * n : realLoss(probs, labels, n);
      const p = probs.data;
      for (let r = 0; r < n; r++) {
        const best = rowArgmax(p, r, classes);
        predictions[batch.indices[r]!] = best;
        if (best === labels[r]) right++;
      }
    }
  } finally {
    buffers.dispose();
  }
  return { accuracy: right / data.count, loss: lossSum / data.count, predictions };
}

function padImages(images: Float32Array, length: number): Float32Array {
  const out = new Float32Array(length);
  out.set(images);
  return out;
}

function padLabels(labels: Int32Array, length: number): Int32Array {
  const out = new Int32Array(length);
  out.set(labels);
  return out;
}

function realLoss(probs: Tensor, labels: ArrayLike<number>, rows: number): number {
  const p = probs.data, k = probs.shape[1]!;
  let sum = 0;
  for (let r = 0; r < rows; r++) sum -= Math.log(Math.max(p[r * k + labels[r]!]!, 1e-30));
  return sum;
}
