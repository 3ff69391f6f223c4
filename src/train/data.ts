// What fit, evaluate and predict accept as data, and how one batch of model input is made from
// it: gather the batch's items, convert (bytes / 255), crop and flip (training augmentation,
// seeded), normalise per channel, into a float32 buffer of the model's input shape.
import { checkInt, fail, fmtShape } from "../errors.js";
import { shuffledIndices, seededRandom, type Normalization } from "../data/batches.js";
import type { LabeledImages } from "../data/mnist.js";
import { Tensor, type Shape } from "../tensor.js";

/**
 * Data held in memory: `count` items row-major, images NHWC `[count, H, W, C]` with any number of
 * channels (bytes are scaled by 1/255 before normalisation), with an integer class label per item
 * or dense targets of the model's output shape per item.
 */
export interface ArrayData {
  /** The items, row-major: float32, bytes (0..255) or an engine tensor. */
  x: Float32Array | Uint8Array | Tensor;
  /** `[count, ...item shape]`; defaults to a tensor's shape, else `[x.length / input size, ...model input shape]`. */
  shape?: Shape;
  /** Class per item, integers in [0, classes). */
  labels?: ArrayLike<number>;
  /** Dense targets, `[count, ...model output shape]` row-major (regression, multi-label). */
  targets?: Float32Array | Tensor;
}

/** One mini-batch of streamed data: `x` holds `[b, ...model input shape]` row-major. */
export interface DataBatch {
  /** The batch's items, row-major: float32, bytes (0..255) or an engine tensor. */
  x: Float32Array | Uint8Array | Tensor;
  /** Class per item. */
  labels?: ArrayLike<number>;
  /** Dense targets, `[b, ...model output shape]`. */
  targets?: Float32Array | Tensor;
}

/**
 * Streamed data: batches from an iterable or async iterable (e.g. an async generator reading
 * files), or a function returning a fresh one, called once per epoch (a generator object can be
 * iterated only once, so several epochs need the function).
 */
export type BatchStream = Iterable<DataBatch> | AsyncIterable<DataBatch> | (() => Iterable<DataBatch> | AsyncIterable<DataBatch>);

/** Every form of data fit, evaluate and predict take. */
export type TrainingData = LabeledImages | ArrayData | BatchStream;

/** Seeded training augmentation of image items `[H, W, C]`. */
export interface Augmentation {
  /** Mirror each image left-right with probability 1/2. */
  flip?: boolean;
  /**
   * Random crop: pad every side by `padding` pixels (zeros after normalisation), then take a window
   * of the model's input size at a random position. Items larger than the model's input are cropped
   * at random in training and in the centre in evaluation.
   */
  crop?: { padding?: number };
}

/** Items in memory, as the pipeline reads them. */
export interface Items {
  count: number;
  /** Per-item shape of the data (may be larger than the model's input for cropping). */
  itemShape: number[];
  /** Read each batch: a tensor's view can move when memory grows. */
  x(): Float32Array | Uint8Array;
  bytes: boolean;
  labels?: ArrayLike<number>;
  targets?: () => Float32Array;
}

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

export const isLabeledImages = (d: unknown): d is LabeledImages =>
  isObject(d) && d.images instanceof Uint8Array && typeof d.count === "number" && typeof d.height === "number";

/** A stream's per-epoch iterable, or undefined when `data` is not a stream. */
export function streamOf(data: unknown): (() => Iterable<DataBatch> | AsyncIterable<DataBatch>) | undefined {
  if (typeof data === "function") return data as () => Iterable<DataBatch>;
  if (isObject(data) && (Symbol.asyncIterator in data || Symbol.iterator in data) && !ArrayBuffer.isView(data)) {
    const once = data as Iterable<DataBatch>;
    return () => once;
  }
  return undefined;
}

function floatsOf(op: string, what: string, v: unknown): () => Float32Array {
  if (v instanceof Tensor) {
    v.assertLive(`${op}: ${what}`);
    if (v.dtype !== "f32") fail(op, `${what} must be a float32 tensor, got ${v.dtype}`);
    return () => v.data;
  }
  if (v instanceof Float32Array) return () => v;
  fail(op, `${what} must be a Float32Array or a float32 Tensor`);
}

/** Checks in-memory data against the model's input shape; undefined for a stream. */
export function itemsOf(op: string, data: unknown, inputShape: readonly number[], outputSize: number): Items | undefined {
  if (isLabeledImages(data)) {
    const { count, height, width, images, labels } = data;
    checkInt(op, "data.count", count, 0);
    if (images.length !== count * height * width) {
      fail(op, `data.images has ${images.length} bytes but count ${count} x ${height} x ${width} needs ${count * height * width}`);
    }
    if (!labels || labels.length !== count) fail(op, `data.labels has ${labels?.length} labels for ${count} images`);
    return { count, itemShape: [height, width, 1], x: () => images, bytes: true, labels };
  }
  if (streamOf(data)) return undefined;
  if (!isObject(data) || data.x === undefined) {
    fail(op, "data must be {x, shape?, labels | targets}, {images, labels, count, height, width}, an (async) iterable of batches or a function returning one");
  }
  const d = data as unknown as ArrayData;
  const bytes = d.x instanceof Uint8Array;
  let read: () => Float32Array | Uint8Array;
  let length: number;
  if (bytes) {
    const x = d.x as Uint8Array;
    read = () => x;
    length = x.length;
  } else {
    read = floatsOf(op, "data.x", d.x);
    length = read().length;
  }
  let shape: number[];
  if (d.shape !== undefined) shape = [...d.shape];
  else if (d.x instanceof Tensor) shape = [...d.x.shape];
  else {
    const per = sizeOf(inputShape);
    if (length % per !== 0)
      fail(op, `data.x has ${length} values, not a whole number of items of the model's input shape ${fmtShape(inputShape)} (${per} values)`);
    shape = [length / per, ...inputShape];
  }
  shape.forEach((v, i) => checkInt(op, `data.shape[${i}]`, v, 0));
  if (sizeOf(shape) !== length) fail(op, `data.x has ${length} values but data.shape ${fmtShape(shape)} needs ${sizeOf(shape)}`);
  const count = shape[0]!;
  const items: Items = { count, itemShape: shape.slice(1), x: read, bytes };
  if (d.labels !== undefined) {
    if (typeof d.labels?.length !== "number" || d.labels.length !== count) fail(op, `data.labels has ${d.labels?.length} labels for ${count} items`);
    items.labels = d.labels;
  }
  if (d.targets !== undefined) {
    const targets = floatsOf(op, "data.targets", d.targets);
    if (targets().length !== count * outputSize) {
      fail(op, `data.targets has ${targets().length} values but ${count} items of the model's output size ${outputSize} need ${count * outputSize}`);
    }
    items.targets = targets;
  }
  return items;
}

/** One streamed batch as Items (checked against the model's input and output sizes). */
export function batchItems(op: string, b: DataBatch, where: string, inputShape: readonly number[], outputSize: number): Items {
  if (!isObject(b) || b.x === undefined) fail(op, `${where} must be {x, labels | targets}, got ${b === null ? "null" : typeof b}`);
  const per = sizeOf(inputShape);
  const items = itemsOf(op, { x: b.x, labels: b.labels, targets: b.targets, shape: b.x instanceof Tensor ? b.x.shape : undefined }, inputShape, outputSize)!;
  if (sizeOf(items.itemShape) !== per) fail(op, `${where}: x has items of shape ${fmtShape(items.itemShape)}, the model takes ${fmtShape(inputShape)}`);
  items.itemShape = [...inputShape];
  return items;
}

/** Index orders, shuffled from a seed (Fisher-Yates, the same order as `batches()`). */
export function orderOf(count: number, shuffle: boolean, seed: number): Int32Array {
  return shuffle ? shuffledIndices(count, seed) : Int32Array.from({ length: count }, (_, i) => i);
}

/**
 * Turns items into model input: v = raw * a[c] + b[c] per channel c (a = 1 / (255 std) for bytes,
 * 1 / std for floats; b = -mean / std), optionally flipped and cropped.
 */
export class Pipeline {
  private readonly a: Float64Array;
  private readonly b: Float64Array;
  private readonly image: boolean;
  private readonly padding: number;
  /** The items' shape: the model's input shape when they differ only by extent-1 axes. */
  private readonly itemShape: readonly number[];

  constructor(
    op: string,
    private readonly inputShape: readonly number[],
    itemShape: readonly number[],
    bytes: boolean,
    normalize: Normalization | undefined,
    private readonly augment: Augmentation = {},
  ) {
    const channels = inputShape[inputShape.length - 1] ?? 1;
    [this.a, this.b] = affine(op, normalize ?? "unit", bytes, inputShape.length === 3 ? channels : 1);
    this.padding = augment.crop ? checkInt(op, "augment.crop.padding", augment.crop.padding ?? 0, 0) : 0;
    // Extent-1 axes do not change the bytes: grey images [28, 28, 1] feed a model taking [28, 28].
    const squeezed = (s: readonly number[]) => s.filter((d) => d !== 1).join(",");
    const same = squeezed(itemShape) === squeezed(inputShape);
    this.itemShape = same ? inputShape : itemShape;
    this.image = inputShape.length === 3;
    if (!same) {
      const larger =
        this.image && itemShape.length === 3 && itemShape[2] === inputShape[2] && itemShape[0]! >= inputShape[0]! && itemShape[1]! >= inputShape[1]!;
      if (!larger || !augment.crop) {
        fail(
          op,
          `the data's items have shape ${fmtShape(itemShape)} but the model takes ${fmtShape(inputShape)}` +
            (larger ? " (larger images need augment.crop, or resize them first)" : ""),
        );
      }
    }
    if ((augment.flip || augment.crop) && !this.image) fail(op, `augment needs image items [H, W, C], the model takes ${fmtShape(inputShape)}`);
  }

  /** Writes items `indices` into out ([indices.length, ...inputShape]); random is the augmentation's generator (training). */
  fill(out: Float32Array, items: Items, indices: ArrayLike<number>, flipRandom?: () => number, cropRandom?: () => number): void {
    const x = items.x(),
      per = sizeOf(this.inputShape),
      itemSize = sizeOf(this.itemShape);
    const { a, b } = this;
    if (!this.image) {
      for (let r = 0; r < indices.length; r++) {
        const src = indices[r]! * itemSize,
          dst = r * per;
        for (let i = 0; i < per; i++) out[dst + i] = x[src + i]! * a[0]! + b[0]!;
      }
      return;
    }
    const [H, W, C] = this.inputShape as [number, number, number];
    const [h, w] = this.itemShape as [number, number, number];
    const p = this.padding;
    for (let r = 0; r < indices.length; r++) {
      const base = indices[r]! * itemSize,
        dst = r * per;
      // the window's top-left corner in padded item coordinates
      let cy = (h + 2 * p - H) >> 1,
        cx = (w + 2 * p - W) >> 1;
      if (cropRandom) {
        cy = Math.floor(cropRandom() * (h + 2 * p - H + 1));
        cx = Math.floor(cropRandom() * (w + 2 * p - W + 1));
      }
      const flip = flipRandom !== undefined && flipRandom() >= 0.5;
      for (let oy = 0; oy < H; oy++) {
        const sy = oy + cy - p;
        for (let ox = 0; ox < W; ox++) {
          const sx = (flip ? W - 1 - ox : ox) + cx - p;
          const o = dst + (oy * W + ox) * C;
          if (sy < 0 || sy >= h || sx < 0 || sx >= w) {
            out.fill(0, o, o + C);
            continue;
          }
          const s = base + (sy * w + sx) * C;
          for (let c = 0; c < C; c++) out[o + c] = x[s + c]! * a[c]! + b[c]!;
        }
      }
    }
  }

  /** The generators of one epoch's augmentation (undefined where not augmenting). */
  randoms(seed: number): { flip?: () => number; crop?: () => number } {
    const cropping =
      this.augment.crop !== undefined && (this.padding > 0 || this.itemShape[0] !== this.inputShape[0] || this.itemShape[1] !== this.inputShape[1]);
    return {
      // the flip generator is the one batches() uses, so grey images flip as they always did
      flip: this.augment.flip ? seededRandom(seed ^ 0x5f3759df) : undefined,
      crop: cropping ? seededRandom(seed ^ 0x2545f491) : undefined,
    };
  }
}

/** Per-channel [a, b] of v = raw * a + b; bytes are first scaled to [0, 1]. */
function affine(op: string, normalize: Normalization, bytes: boolean, channels: number): [Float64Array, Float64Array] {
  const a = new Float64Array(channels),
    b = new Float64Array(channels);
  const unit = bytes ? 1 / 255 : 1;
  if (normalize === "unit") return [a.fill(unit), b];
  const bad = () =>
    fail(
      op,
      `normalize must be "unit" or {mean, std} (numbers, or one per channel: ${channels}) with finite mean and std > 0, got ${JSON.stringify(normalize)}`,
    );
  if (!isObject(normalize)) bad();
  const at = (v: unknown, c: number): number => {
    const x = Array.isArray(v) ? (v.length === channels ? v[c] : bad()) : v;
    if (typeof x !== "number" || !Number.isFinite(x)) bad();
    return x as number;
  };
  for (let c = 0; c < channels; c++) {
    const mean = at(normalize.mean, c),
      std = at(normalize.std, c);
    if (!(std > 0)) bad();
    // the same arithmetic as toFloatImages, so grey byte images normalise to the same bits
    a[c] = bytes ? 1 / (255 * std) : 1 / std;
    b[c] = -mean / std;
  }
  return [a, b];
}
