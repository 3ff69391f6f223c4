// Mini-batches for training: a seeded shuffle, images converted from bytes to float32 NHWC
// [B, H, W, 1] (scaled to [0, 1], or standardised), labels as Int32Array (what
// softmaxCrossEntropy takes through engine.ints).
import { checkInt, fail, fmtValue } from "../errors.js";
import type { LabeledImages } from "./mnist.js";
import { mulberry32 } from "../random.js";

/** Deterministic uniform [0, 1) generator (mulberry32) from a 32-bit seed. */
export const seededRandom: (seed: number) => () => number = mulberry32;

/** A permutation of 0..n-1 (Fisher-Yates) from a seeded generator. */
export function shuffledIndices(n: number, seed: number): Int32Array {
  checkInt("shuffledIndices", "n", n, 0);
  if (!Number.isInteger(seed)) fail("shuffledIndices", `seed must be an integer, got ${fmtValue(seed)}`);
  const random = seededRandom(seed);
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx;
}

/**
 * "unit": bytes x / 255 in [0, 1] (floats unchanged); {mean, std}: (x / 255 - mean) / std for bytes,
 * (x - mean) / std for floats. fit, evaluate and predict also take one mean and std per channel.
 */
export type Normalization = "unit" | { mean: number | readonly number[]; std: number | readonly number[] };

/** Fashion-MNIST training-set pixel statistics (of x / 255), for {mean, std} normalisation. */
export const FASHION_MNIST_STATS = { mean: 0.286, std: 0.353 } as const;

function affine(op: string, normalize: Normalization): [scale: number, shift: number] {
  if (normalize === "unit") return [1 / 255, 0];
  if (
    !normalize ||
    typeof normalize !== "object" ||
    typeof normalize.mean !== "number" ||
    typeof normalize.std !== "number" ||
    !Number.isFinite(normalize.mean) ||
    !Number.isFinite(normalize.std) ||
    !(normalize.std > 0)
  ) {
    fail(op, `normalize must be "unit" or {mean, std} with finite mean and std > 0, got ${JSON.stringify(normalize)}`);
  }
  return [1 / (255 * normalize.std), -normalize.mean / normalize.std];
}

/**
 * Images `indices` (default: all, in order) as float32 NHWC [n, H, W, 1], normalised.
 * `out` (length n * H * W) is filled and returned if given.
 */
export function toFloatImages(set: LabeledImages, normalize: Normalization = "unit", indices?: ArrayLike<number>, out?: Float32Array): Float32Array {
  const op = "toFloatImages";
  const [scale, shift] = affine(op, normalize);
  const pixels = set.height * set.width;
  const n = indices ? indices.length : set.count;
  const y = out ?? new Float32Array(n * pixels);
  if (y.length !== n * pixels) fail(op, `out has ${y.length} elements, need ${n * pixels} for [${n},${set.height},${set.width},1]`);
  for (let b = 0; b < n; b++) {
    const i = indices ? indices[b]! : b;
    if (!Number.isInteger(i) || i < 0 || i >= set.count) fail(op, `index ${i} is out of range [0, ${set.count})`);
    const src = i * pixels,
      dst = b * pixels;
    for (let p = 0; p < pixels; p++) y[dst + p] = set.images[src + p]! * scale + shift;
  }
  return y;
}

/** One mini-batch from `batches()`: float32 NHWC images, int32 labels and the items' positions in the data set. */
export interface Batch {
  /** float32 NHWC [size, height, width, 1]. */
  images: Float32Array;
  labels: Int32Array;
  shape: [number, number, number, 1];
  /** Positions of these items in the data set. */
  indices: Int32Array;
}

/** Options of `batches()`: size, order, normalisation and flipping of the mini-batches. */
export interface BatchOptions {
  batchSize: number;
  /** Default true. The order is a function of `seed` alone: pass e.g. seed + epoch for a new order each epoch. */
  shuffle?: boolean;
  seed?: number;
  /** Drop a last batch smaller than batchSize (fixed shapes). Default false. */
  dropLast?: boolean;
  /** Default "unit" ([0, 1]). */
  normalize?: Normalization;
  /** Mirror each image left-right with probability 1/2 (seeded by `seed`): training augmentation. */
  flip?: boolean;
}

/** Number of batches one pass over `count` items yields. */
export function batchCount(count: number, batchSize: number, dropLast = false): number {
  checkInt("batchCount", "count", count, 0);
  checkInt("batchCount", "batchSize", batchSize, 1);
  return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

/**
 * One epoch of mini-batches over a data set. Each batch gets fresh arrays (the caller may keep
 * them); copy them into engine tensors with engine.tensor(batch.shape, batch.images) and
 * engine.ints([size], batch.labels).
 */
export function* batches(set: LabeledImages, options: BatchOptions): Generator<Batch> {
  const op = "batches";
  const size = checkInt(op, "batchSize", options?.batchSize, 1);
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) fail(op, `seed must be an integer, got ${fmtValue(seed)}`);
  const normalize = options.normalize ?? "unit";
  affine(op, normalize); // validate before the first batch
  const order = options.shuffle === false ? Int32Array.from({ length: set.count }, (_, i) => i) : shuffledIndices(set.count, seed);
  const end = options.dropLast ? set.count - (set.count % size) : set.count;
  const flipRandom = seededRandom(seed ^ 0x5f3759df);
  for (let start = 0; start < end; start += size) {
    const indices = order.slice(start, Math.min(start + size, end));
    const labels = Int32Array.from(indices, (i) => set.labels[i]!);
    const images = toFloatImages(set, normalize, indices);
    if (options.flip) mirrorSome(images, indices.length, set.height, set.width, flipRandom);
    yield { images, labels, shape: [indices.length, set.height, set.width, 1], indices };
  }
}

/** Mirrors each of `count` [height, width] images left-right with probability 1/2. */
function mirrorSome(images: Float32Array, count: number, height: number, width: number, random: () => number): void {
  for (let i = 0; i < count; i++) {
    if (random() < 0.5) continue;
    for (let y = 0; y < height; y++) {
      const row = images.subarray((i * height + y) * width, (i * height + y + 1) * width);
      row.reverse();
    }
  }
}
