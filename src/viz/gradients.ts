// Gradient visualisations: saliency maps (Simonyan, Vedaldi & Zisserman 2014), guided
// backpropagation (Springenberg et al. 2015) and class-model images by gradient ascent
// (Simonyan et al. 2014). All run the model in inference mode and use Model.backward, so they work
// on any model with backward planned; they re-plan the model's batch when needed and leave its
// parameter gradients zeroed.
import { fail, fmtShape } from "../errors.js";
import type { Model } from "../model/model.js";
import { sizeOf } from "../tensor.js";
import { mulberry32 } from "../random.js";
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

/**
 * Options of classModel: steps, step size and regularisation of the gradient ascent. By default
 * the ascent is regularised as in Yosinski et al. 2015 ("Understanding Neural Networks Through
 * Deep Visualization"): a seeded noise start, random jitter of the image each step, L2 decay, a
 * Gaussian blur every few steps, and optionally clipping of pixels with a small norm or a small
 * contribution. `regularize: false` is the plain ascent of Simonyan et al. 2014 from a zero image.
 */
export interface ClassModelOptions {
  /** Gradient-ascent steps (default 200). */
  steps?: number;
  /**
   * Step size (default 1 plain; 0.05 regularised, where each step is the gradient divided by its
   * mean absolute value, so the step is scale-free).
   */
  lr?: number;
  /**
   * L2 regularisation. Plain: maximises S_k(I) - l2 * ||I||^2 (default 0.01). Regularised: the
   * image decays by a factor 1 - l2 each step (default 0.02).
   */
  l2?: number;
  /** false: the plain ascent (no noise start, jitter, blur or clipping). Default true. */
  regularize?: boolean;
  /** Regularised: the image is shifted (cyclically) by up to this many pixels each step (default 1). */
  jitter?: number;
  /** Regularised: blur the image every this many steps (default 2; 0: never). */
  blurEvery?: number;
  /** Regularised: standard deviation (pixels) of that Gaussian blur (default 0.7). */
  blurSigma?: number;
  /**
   * Regularised: after each step, the pixels whose norm over channels is among the smallest
   * `clipNorm` fraction of all pixels' (a percentile in [0, 1)) become 0 (default 0).
   */
  clipNorm?: number;
  /** Regularised: likewise for the pixels of smallest contribution |sum over channels of I * dS/dI| (default 0.2). */
  clipContribution?: number;
  /**
   * Regularised: keep every pixel within [lo, hi] after each step, e.g. the range of the training
   * images ([0, 1] for images scaled to unit range), so the image stays one the model could see.
   * Default: no range.
   */
  range?: readonly [number, number];
  /** Seed of the noise start and the jitter (default 1). */
  seed?: number;
  /** Called after each step with the score S_k of the image before the step. */
  onStep?: (step: number, score: number) => void;
}

/** The image classModel made and the class score along the way. */
export interface ClassModelResult {
  /** The image [H, W, C] (in the model's input units) after the last step. */
  image: Float32Array;
  /** S_k before each step, then of the final image: steps + 1 values (of the image without jitter). */
  scores: number[];
  height: number;
  width: number;
  channels: number;
}

/** image shifted cyclically by (dy, dx) pixels: out[y, x] = image[y - dy, x - dx] (HWC). */
function roll(image: Float32Array, h: number, w: number, c: number, dy: number, dx: number, out: Float32Array): Float32Array {
  for (let y = 0; y < h; y++) {
    const sy = (((y - dy) % h) + h) % h;
    for (let x = 0; x < w; x++) {
      const sx = (((x - dx) % w) + w) % w;
      for (let k = 0; k < c; k++) out[(y * w + x) * c + k] = image[(sy * w + sx) * c + k]!;
    }
  }
  return out;
}

/** In place: a separable Gaussian blur of an HWC image (edges clamped), radius ceil(2 sigma). */
function gaussianBlur(image: Float32Array, h: number, w: number, c: number, sigma: number): void {
  const r = Math.max(1, Math.ceil(2 * sigma));
  const k = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const total = k.reduce((a, b) => a + b, 0);
  const kernel = k.map((v) => v / total);
  const tmp = new Float32Array(image.length);
  const pass = (src: Float32Array, dst: Float32Array, alongX: boolean) => {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let i = -r; i <= r; i++) {
            const yy = alongX ? y : Math.min(h - 1, Math.max(0, y + i));
            const xx = alongX ? Math.min(w - 1, Math.max(0, x + i)) : x;
            s += kernel[i + r]! * src[(yy * w + xx) * c + ch]!;
          }
          dst[(y * w + x) * c + ch] = s;
        }
      }
    }
  };
  pass(image, tmp, true);
  pass(tmp, image, false);
}

/** In place: sets to 0 the pixels whose `value` is below the `fraction` percentile of all pixels' values. */
function clipPixels(image: Float32Array, c: number, value: Float32Array, fraction: number): void {
  if (!(fraction > 0)) return;
  const sorted = Float32Array.from(value).sort();
  const threshold = sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
  for (let p = 0; p < value.length; p++) if (value[p]! < threshold) image.fill(0, p * c, (p + 1) * c);
}

/**
 * Class-model visualisation: gradient ascent on the image of the class score S_k (before softmax).
 * Regularised (the default, Yosinski et al. 2015): from small seeded noise, each step shifts the
 * image by a random jitter, takes dS_k/dI there (shifted back), and moves I <- (1 - l2) I +
 * lr * g / mean|g|; every `blurEvery` steps the image is blurred; pixels of small norm or small
 * contribution may be clipped to 0. These keep the image from the high-frequency, extreme
 * patterns unregularised ascent finds, and a zero start from staying at zero where the model's
 * ReLUs are all off there. Plain (`regularize: false`, Simonyan et al. 2014): from a zero image,
 * I <- I + lr * (dS_k/dI - 2 * l2 * I).
 */
export function classModel(model: Model, classIndex: number, options: ClassModelOptions = {}): ClassModelResult {
  const op = "classModel";
  requireBackward(op, model);
  const [height, width, channels] = hwc(op, model);
  const { classes: K } = scoreOutput(op, model);
  checkClass(op, classIndex, K);
  const regularize = options.regularize ?? true;
  const steps = options.steps ?? 200,
    lr = options.lr ?? (regularize ? 0.05 : 1),
    l2 = options.l2 ?? (regularize ? 0.02 : 0.01);
  const jitter = regularize ? (options.jitter ?? 1) : 0,
    blurEvery = regularize ? (options.blurEvery ?? 2) : 0;
  const blurSigma = options.blurSigma ?? 0.7,
    clipNorm = options.clipNorm ?? 0,
    clipContribution = regularize ? (options.clipContribution ?? 0.2) : 0;
  if (!Number.isInteger(steps) || steps < 0) fail(op, `steps must be a non-negative integer, got ${steps}`);
  if (!Number.isFinite(lr) || lr <= 0) fail(op, `lr must be a positive number, got ${lr}`);
  if (typeof l2 !== "number" || !Number.isFinite(l2) || l2 < 0 || (regularize && l2 >= 1))
    fail(op, `l2 must be a non-negative number${regularize ? " below 1 (a decay factor)" : ""}, got ${l2}`);
  if (!Number.isInteger(jitter) || jitter < 0) fail(op, `jitter must be a non-negative integer (pixels), got ${jitter}`);
  if (!Number.isInteger(blurEvery) || blurEvery < 0) fail(op, `blurEvery must be a non-negative integer, got ${blurEvery}`);
  if (!Number.isFinite(blurSigma) || blurSigma <= 0) fail(op, `blurSigma must be a positive number, got ${blurSigma}`);
  for (const [name, v] of [
    ["clipNorm", clipNorm],
    ["clipContribution", clipContribution],
  ] as const) {
    if (!(v >= 0 && v < 1)) fail(op, `${name} must be a fraction in [0, 1), got ${v}`);
  }
  const range = options.range;
  if (range !== undefined && !(Array.isArray(range) && range.length === 2 && Number.isFinite(range[0]) && Number.isFinite(range[1]) && range[0] < range[1])) {
    fail(op, `range must be [lo, hi] with lo < hi, got ${JSON.stringify(range)}`);
  }
  const random = mulberry32(options.seed ?? 1);
  planFor(model, 1);
  const n = height * width * channels;
  const image = new Float32Array(n);
  if (regularize) {
    // small noise around 0 (or, with a range, just above its low end: a dark image)
    const amp = range ? (range[1] - range[0]) * 0.01 : 0.01,
      base = range ? Math.max(range[0], Math.min(range[1], 0)) + amp / 2 : 0;
    for (let i = 0; i < n; i++) image[i] = base + amp * (random() - 0.5);
  }
  const shifted = new Float32Array(n),
    grad = new Float32Array(n);
  const dOut = new Float32Array(K);
  dOut[classIndex] = 1;
  const scores: number[] = [];
  for (let s = 0; s <= steps; s++) {
    const score = model.forward(image, { training: false }).data[classIndex]!;
    scores.push(score);
    if (s === steps) break;
    options.onStep?.(s, score);
    if (!regularize) {
      const g = model.backward(dOut).data;
      for (let i = 0; i < n; i++) image[i] = image[i]! + lr * (g[i]! - 2 * l2 * image[i]!);
      continue;
    }
    const dy = jitter ? Math.floor(random() * (2 * jitter + 1)) - jitter : 0;
    const dx = jitter ? Math.floor(random() * (2 * jitter + 1)) - jitter : 0;
    if (dy || dx) model.forward(roll(image, height, width, channels, dy, dx, shifted), { training: false });
    roll(model.backward(dOut).data as Float32Array, height, width, channels, -dy, -dx, grad);
    let mean = 0;
    for (let i = 0; i < n; i++) mean += Math.abs(grad[i]!);
    mean /= n;
    if (!(mean > 0 && Number.isFinite(mean))) continue; // no signal at this point: the jitter and decay move on
    const step = lr / mean;
    for (let i = 0; i < n; i++) image[i] = (1 - l2) * image[i]! + step * grad[i]!;
    if (blurEvery && (s + 1) % blurEvery === 0) gaussianBlur(image, height, width, channels, blurSigma);
    if (range) for (let i = 0; i < n; i++) image[i] = Math.min(range[1], Math.max(range[0], image[i]!));
    if (clipNorm > 0 || clipContribution > 0) {
      const pixels = height * width,
        norm = new Float32Array(pixels),
        contribution = new Float32Array(pixels);
      for (let p = 0; p < pixels; p++) {
        let q = 0,
          d = 0;
        for (let ch = 0; ch < channels; ch++) {
          const v = image[p * channels + ch]!;
          q += v * v;
          d += v * grad[p * channels + ch]!;
        }
        norm[p] = Math.sqrt(q);
        contribution[p] = Math.abs(d);
      }
      clipPixels(image, channels, norm, clipNorm);
      clipPixels(image, channels, contribution, clipContribution);
    }
  }
  model.zeroGrads();
  return { image, scores, height, width, channels };
}
