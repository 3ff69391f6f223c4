// The training loop: fit a Model to data (in memory or streamed, labels or dense targets) with a
// loss, metrics, validation, callbacks and seeded augmentation; evaluate and predict. One loop
// serves the synchronous and the asynchronous forms: it is a generator that yields where it may
// wait (a streamed batch, a callback's promise, a turn of the event loop), run to its end by
// fit / evaluate / predict and awaited step by step by fitAsync / evaluateAsync / predictAsync.
// A model is planned once per batch size; a step allocates nothing in wasm memory.
import type { Normalization } from "../data/batches.js";
import { checkInt, fail, fmtShape, SimdnetError } from "../errors.js";
import type { Model } from "../model/model.js";
import { checkOptions } from "../ops/common.js";
import { fill } from "../ops/elementwise.js";
import { softmaxCrossEntropy, softmaxCrossEntropyBackward } from "../ops/softmax.js";
import { Tensor } from "../tensor.js";
import { type Augmentation, batchItems, type DataBatch, type Items, itemsOf, orderOf, Pipeline, streamOf, type TrainingData } from "./data.js";
import { binaryCrossEntropy, binaryCrossEntropyBackward, mseLoss, mseLossBackward, multiclassHingeLoss, multiclassHingeLossBackward } from "./losses.js";
import type { Optimizer } from "./optimizers.js";

/**
 * The losses fit takes: softmax cross-entropy (labels; the default with labels), binary
 * cross-entropy on logits (targets in [0, 1], or 0/1 labels for one output), mean squared error
 * (targets; the default with targets), multiclass hinge (labels).
 */
export type LossName = "softmaxCrossEntropy" | "binaryCrossEntropy" | "mse" | "hinge";

/** A metric computed from one batch: its mean over the batch's items (fit weights batches by size). */
export interface Metric {
  /** The key in `metrics` of BatchInfo, EpochInfo and Evaluation. */
  name: string;
  /** outputs: `[n, ...output shape]`; labels or targets as the data gives them. */
  fn(outputs: Float32Array, labels: Int32Array | undefined, targets: Float32Array | undefined, n: number): number;
}

/**
 * Built-in metrics: "accuracy" (labels: arg-max equals the label; binary cross-entropy: logit > 0
 * equals target >= 0.5 per output; targets: arg-max of output equals arg-max of target), "mse", "mae".
 */
export type MetricName = "accuracy" | "mse" | "mae";

/** What fit reports after each training batch. */
export interface BatchInfo {
  epoch: number;
  /** Batch within the epoch, from 1. */
  batch: number;
  /** Batches per epoch (undefined for a stream). */
  batches: number | undefined;
  /** Items in this batch. */
  size: number;
  /** Mean loss of this batch. */
  loss: number;
  /** This batch's metrics. */
  metrics: Record<string, number>;
  /** metrics.accuracy, when computed. */
  accuracy?: number;
  /** Training items per second so far in this epoch. */
  imagesPerSecond: number;
}

/** Loss and metrics of a pass over validation (or test) data. */
export interface EvaluationSummary {
  loss: number;
  metrics: Record<string, number>;
  /** metrics.accuracy, when computed. */
  accuracy?: number;
}

/** What fit reports after each epoch (and returns, one per epoch). */
export interface EpochInfo extends EvaluationSummary {
  epoch: number;
  /** Validation loss and metrics after this epoch, with `validation` data. */
  validation?: EvaluationSummary;
  imagesPerSecond: number;
  seconds: number;
  /** The learning rate used in this epoch. */
  lr: number;
  /** Why training stopped after this epoch, when a callback stopped it. */
  stopped?: string;
}

/** What callbacks get besides the info: the model, the optimizer, the history so far, and a way to stop. */
export interface FitControl {
  readonly model: Model;
  readonly optimizer: Optimizer;
  /** Epochs finished so far. */
  readonly history: readonly EpochInfo[];
  /** Ends training after the current batch (or epoch); `reason` goes into the last EpochInfo. */
  stop(reason?: string): void;
}

/** Hooks into fit. A promise returned by a hook is awaited by fitAsync (fit refuses one). */
export interface FitCallback {
  onBatch?(info: BatchInfo, control: FitControl): void | Promise<void>;
  onEpoch?(info: EpochInfo, control: FitControl): void | Promise<void>;
  /** After the last epoch, whether it ended normally or by stop() (not after an error). */
  onEnd?(history: readonly EpochInfo[], control: FitControl): void | Promise<void>;
}

/** Options of evaluate, predict and the data side of fit. */
export interface DataOptions {
  /** Items per batch (default: fit's batch size, else the model's planned batch, else 32). */
  batchSize?: number;
  /** Input normalisation (default "unit": bytes / 255, floats unchanged); per channel with arrays. */
  normalize?: Normalization;
  /** Augmentation settings; in evaluation only a crop of larger items applies (the centre window). */
  augment?: Augmentation;
}

/** Options of evaluate. */
export interface EvaluateOptions extends DataOptions {
  /** Default: as for fit. */
  loss?: LossName;
  /** Default: ["accuracy"] unless the loss is "mse". */
  metrics?: (MetricName | Metric)[];
}

/** Options of fit: epochs, batch size, optimizer, loss and metrics, validation, callbacks, augmentation. */
export interface FitOptions extends EvaluateOptions {
  epochs: number;
  optimizer: Optimizer;
  /** Default 32. In-memory data: a last batch smaller than this is dropped (fixed shapes). */
  batchSize?: number;
  /** Learning rate per epoch (from 0); sets optimizer.lr before each epoch. */
  schedule?: (epoch: number) => number;
  /** Shuffle in-memory data every epoch (default true). */
  shuffle?: boolean;
  /** Seed of shuffling and augmentation; epoch e uses seed + e. Default 0. */
  seed?: number;
  /** Data evaluated after every epoch (EpochInfo.validation). */
  validation?: TrainingData;
  callbacks?: FitCallback[];
  /** Shorthand for a callback's onBatch. */
  onBatch?: FitCallback["onBatch"];
  /** Shorthand for a callback's onEpoch. */
  onEpoch?: FitCallback["onEpoch"];
}

/** What evaluate returns: loss, metrics, and the predicted class of every item for class outputs. */
export interface Evaluation extends EvaluationSummary {
  /** Items evaluated. */
  count: number;
  /** Predicted class per item (arg-max; one sigmoid output: logit > 0), for vector outputs. */
  predictions?: Int32Array;
}

// ---------------------------------------------------------------------------------------------
// losses and metrics over one planned batch size

interface Batch {
  x: Float32Array;
  n: number;
  labels?: Int32Array;
  targets?: Float32Array;
}

/** Reusable tensors of one batch size, and the loss as forward + backward over them. */
class LossBuffers {
  readonly labels: Tensor | undefined;
  readonly targets: Tensor | undefined;
  readonly probs: Tensor | undefined;
  readonly dOut: Tensor;

  constructor(
    readonly model: Model,
    readonly n: number,
    readonly loss: LossName,
    outShape: readonly number[],
  ) {
    const e = model.engine,
      shape = [n, ...outShape];
    const labelled = loss === "softmaxCrossEntropy" || loss === "hinge";
    this.labels = labelled ? e.ints([n]) : undefined;
    this.targets = labelled ? undefined : e.zeros(shape);
    this.probs = loss === "softmaxCrossEntropy" ? e.zeros(shape) : undefined;
    this.dOut = e.zeros(shape);
  }

  /** Sets labels / targets from the batch and returns the batch-mean loss of `out`. */
  forward(out: Tensor, b: Batch): number {
    if (this.labels) this.labels.set(b.labels!);
    if (this.targets) this.targets.set(b.targets!);
    switch (this.loss) {
      case "softmaxCrossEntropy":
        return softmaxCrossEntropy(out, this.labels!, { probs: this.probs }).loss;
      case "hinge":
        return multiclassHingeLoss(out, this.labels!);
      case "mse":
        return mseLoss(out, this.targets!);
      case "binaryCrossEntropy":
        return binaryCrossEntropy(out, this.targets!);
    }
  }

  /** The gradient of the batch-mean loss w.r.t. `out` (after forward), in dOut. */
  backward(out: Tensor): Tensor {
    fill(this.dOut, 0);
    switch (this.loss) {
      case "softmaxCrossEntropy":
        return softmaxCrossEntropyBackward(this.probs!, this.labels!, 1 / this.n, this.dOut);
      case "hinge":
        return multiclassHingeLossBackward(out, this.labels!, {}, this.dOut);
      case "mse":
        return mseLossBackward(out, this.targets!, undefined, this.dOut);
      case "binaryCrossEntropy":
        return binaryCrossEntropyBackward(out, this.targets!, undefined, this.dOut);
    }
  }

  dispose(): void {
    for (const t of [this.labels, this.targets, this.probs, this.dOut]) t?.dispose();
  }
}

const argmax = (v: Float32Array, at: number, k: number): number => {
  let best = 0;
  for (let j = 1; j < k; j++) if (v[at + j]! > v[at + best]!) best = j;
  return best;
};

function builtinMetric(name: MetricName, loss: LossName): Metric {
  switch (name) {
    case "accuracy":
      return {
        name,
        fn(out, labels, targets, n) {
          const k = out.length / n;
          let right = 0;
          if (loss === "binaryCrossEntropy") {
            for (let i = 0; i < out.length; i++) if (out[i]! > 0 === targets![i]! >= 0.5) right++;
            return right / out.length;
          }
          for (let r = 0; r < n; r++) {
            const want = labels ? labels[r]! : argmax(targets!, r * k, k);
            if (argmax(out, r * k, k) === want) right++;
          }
          return right / n;
        },
      };
    case "mse":
    case "mae":
      return {
        name,
        fn(out, _labels, targets) {
          if (!targets) fail("fit", `metric "${name}" needs targets`);
          let s = 0;
          for (let i = 0; i < out.length; i++) {
            const d = out[i]! - targets[i]!;
            s += name === "mse" ? d * d : Math.abs(d);
          }
          return s / out.length;
        },
      };
  }
}

// ---------------------------------------------------------------------------------------------
// the shared set-up: model shapes, loss, metrics, data

interface Setup {
  model: Model;
  inputShape: readonly number[];
  outShape: readonly number[];
  outSize: number;
  loss: LossName;
  metrics: Metric[];
  buffers: Map<number, LossBuffers>;
  /** predict: batches may have neither labels nor targets. */
  targetsOptional?: boolean;
}

const LOSSES: readonly LossName[] = ["softmaxCrossEntropy", "binaryCrossEntropy", "mse", "hinge"];

function setup(op: string, model: Model, data: TrainingData, options: EvaluateOptions): Setup {
  const g = model.graph;
  if (g.inputs.length !== 1 || g.outputs.length !== 1) {
    fail(op, `the model has ${g.inputs.length} inputs and ${g.outputs.length} outputs; ${op} trains and evaluates models with one of each`);
  }
  const inputShape = g.inputs[0]!.shape,
    outShape = g.shapes.get(g.outputs[0]!)!;
  const outSize = outShape.reduce((a, b) => a * b, 1);
  let loss = options.loss;
  if (loss === undefined) {
    const d = data as { targets?: unknown };
    loss = typeof d === "object" && d !== null && d.targets !== undefined ? "mse" : "softmaxCrossEntropy";
  }
  if (!LOSSES.includes(loss)) fail(op, `loss must be one of ${LOSSES.join(", ")}, got ${JSON.stringify(loss)}`);
  if ((loss === "softmaxCrossEntropy" || loss === "hinge") && outShape.length !== 1) {
    fail(op, `${loss} needs a vector of class scores per item, the model outputs ${fmtShape(outShape)} per item`);
  }
  const names = options.metrics ?? (loss === "mse" ? [] : ["accuracy" as const]);
  if (!Array.isArray(names)) fail(op, "metrics must be an array of metric names or {name, fn}");
  const metrics = names.map((m) => {
    if (typeof m === "string") {
      if (m !== "accuracy" && m !== "mse" && m !== "mae") fail(op, `unknown metric ${JSON.stringify(m)} (accuracy, mse, mae, or {name, fn})`);
      return builtinMetric(m, loss);
    }
    if (!m || typeof m.name !== "string" || typeof m.fn !== "function") fail(op, "a custom metric must be {name, fn}");
    return m;
  });
  return { model, inputShape, outShape, outSize, loss, metrics, buffers: new Map() };
}

/** Labels and targets of a batch as the loss wants them (labels checked, 0/1 labels as BCE targets). */
function batchTargets(op: string, s: Setup, items: Items, indices: ArrayLike<number>, where: string): Pick<Batch, "labels" | "targets"> {
  if (s.targetsOptional) return {};
  const n = indices.length;
  const labelled = s.loss === "softmaxCrossEntropy" || s.loss === "hinge";
  if (items.labels) {
    const labels = new Int32Array(n),
      classes = labelled ? s.outSize : 2;
    for (let r = 0; r < n; r++) {
      const v = items.labels[indices[r]!]!;
      if (!Number.isInteger(v) || v < 0 || v >= classes) fail(op, `${where}: label ${v} of item ${indices[r]} is not a class in [0, ${classes})`);
      labels[r] = v;
    }
    if (labelled) return { labels };
    if (s.loss === "binaryCrossEntropy" && s.outSize === 1) return { labels, targets: Float32Array.from(labels) };
    fail(op, `the ${s.loss} loss needs dense targets (data.targets) for outputs of shape ${fmtShape(s.outShape)}, the data has labels`);
  }
  if (items.targets) {
    if (labelled) fail(op, `the ${s.loss} loss needs integer labels (data.labels), the data has dense targets`);
    const all = items.targets(),
      targets = new Float32Array(n * s.outSize);
    for (let r = 0; r < n; r++) targets.set(all.subarray(indices[r]! * s.outSize, (indices[r]! + 1) * s.outSize), r * s.outSize);
    return { targets };
  }
  fail(op, `${where} has neither labels nor targets`);
}

/** Throws if the model input holds a non-finite value (naming the item), before it reaches the model. */
function checkInputs(op: string, x: Float32Array, n: number, indices: ArrayLike<number>, where: string): void {
  const per = x.length / n;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v - v !== 0) fail(op, `${where}: item ${indices[Math.floor(i / per)]} holds ${v} at value ${i % per} of its input: fix the data (nothing was changed)`);
  }
}

function buffersFor(s: Setup, n: number): LossBuffers {
  let b = s.buffers.get(n);
  if (!b) s.buffers.set(n, (b = new LossBuffers(s.model, n, s.loss, s.outShape)));
  if (s.model.batch !== n) s.model.plan(n);
  return b;
}

// ---------------------------------------------------------------------------------------------
// batches of one pass: in memory (ordered, augmented) or streamed

interface PassOptions {
  batchSize: number;
  training: boolean;
  seed: number;
  shuffle: boolean;
  dropLast: boolean;
}

/** Yields prepared batches; `waits` yields promises (async streams) to the driver. */
function* batchesOf(
  op: string,
  s: Setup,
  data: TrainingData,
  options: DataOptions,
  p: PassOptions,
  meta: { batches?: number },
): Generator<unknown, void, unknown> {
  const items = itemsOf(op, data, s.inputShape, s.outSize);
  if (items) {
    const pipeline = new Pipeline(op, s.inputShape, items.itemShape, items.bytes, options.normalize, p.training ? options.augment : cropOnly(options.augment));
    const order = orderOf(items.count, p.shuffle, p.seed);
    const end = p.dropLast ? items.count - (items.count % p.batchSize) : items.count;
    meta.batches = Math.ceil(end / p.batchSize);
    const random = p.training ? pipeline.randoms(p.seed) : {};
    for (let start = 0; start < end; start += p.batchSize) {
      const indices = order.subarray(start, Math.min(start + p.batchSize, end));
      const x = new Float32Array(indices.length * s.inputShape.reduce((a, b) => a * b, 1));
      pipeline.fill(x, items, indices, random.flip, random.crop);
      const where = `batch ${start / p.batchSize + 1}`;
      const batch: Batch & { indices: Int32Array } = { x, n: indices.length, indices, ...batchTargets(op, s, items, indices, where) };
      yield { batch, where };
    }
    return;
  }
  const stream = streamOf(data)!;
  const source = stream();
  if (source === null || typeof source !== "object") fail(op, "the data function must return an iterable or async iterable of batches");
  const asyncIt = (source as Partial<AsyncIterable<DataBatch>>)[Symbol.asyncIterator];
  const it: Iterator<DataBatch> | AsyncIterator<DataBatch> = asyncIt ? asyncIt.call(source) : (source as Iterable<DataBatch>)[Symbol.iterator]();
  meta.batches = undefined;
  let pipeline: Pipeline | undefined;
  let k = 0;
  for (;;) {
    const step = (asyncIt ? yield it.next() : it.next()) as IteratorResult<DataBatch>;
    if (!step || step.done) break;
    k++;
    const where = `streamed batch ${k}`;
    const items = batchItems(op, step.value, where, s.inputShape, s.outSize);
    pipeline ??= new Pipeline(op, s.inputShape, items.itemShape, items.bytes, options.normalize, p.training ? options.augment : cropOnly(options.augment));
    const indices = Int32Array.from({ length: items.count }, (_, i) => i);
    const x = new Float32Array(items.count * s.inputShape.reduce((a, b) => a * b, 1));
    const random = p.training ? pipeline.randoms(p.seed + k * 7919) : {};
    pipeline.fill(x, items, indices, random.flip, random.crop);
    if (items.count === 0) continue;
    yield { batch: { x, n: items.count, indices, ...batchTargets(op, s, items, indices, where) }, where };
  }
  if (k === 0) fail(op, "the data stream gave no batches (a generator object runs once: pass a function that returns a new one per epoch)");
}

const cropOnly = (a: Augmentation | undefined): Augmentation | undefined => (a?.crop ? { crop: {} } : undefined);

interface Prepared {
  batch: Batch & { indices: Int32Array };
  where: string;
}

/** Marks a yielded value as a prepared batch (everything else a batch generator yields is a wait). */
const isPrepared = (v: unknown): v is Prepared => typeof v === "object" && v !== null && "batch" in v && "where" in v;

// ---------------------------------------------------------------------------------------------
// one training step, one evaluation step

/** Copies of the model's buffers (batch-norm running statistics), to undo a refused step's forward. */
function snapshotBuffers(model: Model): [Tensor, Float32Array][] {
  return model.buffers().map((b) => [b.value, b.value.data.slice()]);
}

/**
 * Forward, loss, backward, then the update only if the loss and every gradient are finite;
 * otherwise the parameters, the optimizer's state and the buffers stay as they were and it throws.
 */
function trainStep(op: string, s: Setup, optimizer: Optimizer, b: Batch, where: string): number {
  const model = s.model,
    bufs = buffersFor(s, b.n);
  const saved = snapshotBuffers(model);
  const refuse = (why: string): never => {
    for (const [t, v] of saved) t.data.set(v);
    throw new SimdnetError(
      `${op}: ${why} at ${where}; the step was not applied: the weights are as they were before it (learning rate ${optimizer.lr} too high?)`,
    );
  };
  const out = model.forward(b.x, { training: true });
  const loss = bufs.forward(out, b);
  if (!Number.isFinite(loss)) refuse(`the loss became ${loss}`);
  const dOut = bufs.backward(out);
  model.zeroGrads();
  model.backward(dOut, { inputGradient: false });
  const params = model.parameters();
  const k = model.engine.kernels;
  for (const p of params) {
    if (p.frozen) continue;
    const at = k.find_nonfinite_f32(p.grad.ptr, p.grad.size);
    if (at >= 0) refuse(`the gradient of ${p.name} became ${p.grad.data[at]} (element ${at})`);
  }
  optimizer.step(params);
  return loss;
}

/** Forward in inference mode; returns the loss and a copy of the outputs of the batch's n items. */
function evalStep(op: string, s: Setup, b: Batch, where: string): { loss: number; out: Float32Array } {
  const bufs = buffersFor(s, b.n);
  const out = s.model.forward(b.x, { training: false });
  const loss = bufs.forward(out, b);
  if (!Number.isFinite(loss)) fail(op, `the loss is ${loss} at ${where} (non-finite weights, or outputs out of range)`);
  return { loss, out: out.data.slice() };
}

class MetricSums {
  private readonly sums: number[];
  private lossSum = 0;
  count = 0;
  constructor(private readonly metrics: Metric[]) {
    this.sums = metrics.map(() => 0);
  }
  batch(out: Float32Array, b: Batch, loss: number): Record<string, number> {
    const values: Record<string, number> = {};
    this.metrics.forEach((m, i) => {
      const v = m.fn(out, b.labels, b.targets, b.n);
      values[m.name] = v;
      this.sums[i]! += v * b.n;
    });
    this.lossSum += loss * b.n;
    this.count += b.n;
    return values;
  }
  summary(): EvaluationSummary {
    const metrics: Record<string, number> = {};
    this.metrics.forEach((m, i) => (metrics[m.name] = this.sums[i]! / this.count));
    return withAccuracy({ loss: this.lossSum / this.count, metrics });
  }
}

function withAccuracy<T extends { metrics: Record<string, number> }>(v: T): T & { accuracy?: number } {
  return v.metrics.accuracy === undefined ? v : { ...v, accuracy: v.metrics.accuracy };
}

// ---------------------------------------------------------------------------------------------
// the loops

const TICK = Symbol("tick");

function* evaluateLoop(
  op: string,
  s: Setup,
  data: TrainingData,
  options: DataOptions,
  batchSize: number,
  predictions: boolean,
): Generator<unknown, Evaluation, unknown> {
  const sums = new MetricSums(s.metrics);
  const preds: number[] = [];
  const meta: { batches?: number } = {};
  const it = batchesOf(op, s, data, options, { batchSize, training: false, seed: 0, shuffle: false, dropLast: false }, meta);
  for (let r = it.next(); !r.done; ) {
    if (!isPrepared(r.value)) {
      r = it.next(yield r.value);
      continue;
    }
    const { batch, where } = r.value;
    checkInputs(op, batch.x, batch.n, batch.indices, where);
    const { loss, out } = evalStep(op, s, batch, where);
    sums.batch(out, batch, loss);
    if (predictions && s.outShape.length === 1) {
      const k = s.outSize;
      for (let i = 0; i < batch.n; i++) preds.push(k === 1 ? (out[i]! > 0 ? 1 : 0) : argmax(out, i * k, k));
    }
    r = it.next();
  }
  if (sums.count === 0) fail(op, "the data has no items");
  const result: Evaluation = { ...sums.summary(), count: sums.count };
  if (predictions && s.outShape.length === 1) result.predictions = Int32Array.from(preds);
  return result;
}

function* fitLoop(model: Model, data: TrainingData, options: FitOptions): Generator<unknown, EpochInfo[], unknown> {
  const op = "fit";
  if (options === undefined) fail(op, "options {epochs, batchSize, optimizer} are required");
  checkOptions(op, "options", options);
  const { epochs, optimizer } = options;
  checkInt(op, "epochs", epochs, 1);
  const batchSize = checkInt(op, "batchSize", options.batchSize ?? 32, 1);
  if (!optimizer || typeof optimizer.step !== "function") fail(op, "options.optimizer must be an optimizer (SGD, Adam, ...)");
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) fail(op, `seed must be an integer, got ${seed}`);
  const s = setup(op, model, data, options);
  const inMemory = itemsOf(op, data, s.inputShape, s.outSize);
  if (inMemory && inMemory.count < batchSize) fail(op, `the data set has ${inMemory.count} items, fewer than one batch of ${batchSize}`);
  const callbacks: FitCallback[] = [...(options.callbacks ?? [])];
  if (options.onBatch || options.onEpoch) callbacks.unshift({ onBatch: options.onBatch, onEpoch: options.onEpoch });
  const history: EpochInfo[] = [];
  let stopped: string | undefined;
  const control: FitControl = { model, optimizer, history, stop: (reason = "stopped by a callback") => void (stopped ??= reason) };
  try {
    for (let epoch = 1; epoch <= epochs && stopped === undefined; epoch++) {
      if (options.schedule) optimizer.lr = options.schedule(epoch - 1);
      const started = performance.now();
      const sums = new MetricSums(s.metrics);
      const meta: { batches?: number } = {};
      const it = batchesOf(op, s, data, options, { batchSize, training: true, seed: seed + epoch, shuffle: options.shuffle ?? true, dropLast: true }, meta);
      let k = 0;
      for (let r = it.next(); !r.done; ) {
        if (!isPrepared(r.value)) {
          r = it.next(yield r.value);
          continue;
        }
        const { batch, where } = r.value;
        k++;
        const at = `epoch ${epoch}, step ${k} (${where})`;
        checkInputs(op, batch.x, batch.n, batch.indices, at);
        const loss = trainStep(op, s, optimizer, batch, at);
        const metrics = sums.batch(s.model.output().data.subarray(0, batch.n * s.outSize), batch, loss);
        const seconds = (performance.now() - started) / 1000;
        const info: BatchInfo = withAccuracy({ epoch, batch: k, batches: meta.batches, size: batch.n, loss, metrics, imagesPerSecond: sums.count / seconds });
        for (const c of callbacks) if (c.onBatch) yield c.onBatch(info, control);
        yield TICK;
        if (stopped !== undefined) break;
        r = it.next();
      }
      if (sums.count === 0) fail(op, `epoch ${epoch} had no batch of ${batchSize} items`);
      const seconds = (performance.now() - started) / 1000;
      const info: EpochInfo = { epoch, ...sums.summary(), imagesPerSecond: sums.count / seconds, seconds, lr: optimizer.lr };
      if (options.validation !== undefined) {
        const vs = setup(op, model, options.validation, options);
        vs.buffers = s.buffers;
        const v = yield* evaluateLoop(`${op} (validation)`, vs, options.validation, options, batchSize, false);
        info.validation = { loss: v.loss, metrics: v.metrics, ...(v.accuracy === undefined ? {} : { accuracy: v.accuracy }) };
      }
      history.push(info);
      for (const c of callbacks) if (c.onEpoch) yield c.onEpoch(info, control);
      if (stopped !== undefined) info.stopped = stopped;
    }
    for (const c of callbacks) if (c.onEnd) yield c.onEnd(history, control);
  } finally {
    for (const b of s.buffers.values()) b.dispose();
  }
  return history;
}

function* predictLoop(op: string, model: Model, x: TrainingData, options: DataOptions): Generator<unknown, Float32Array, unknown> {
  const s = { ...setup(op, model, x, { ...options, loss: "mse", metrics: [] }), targetsOptional: true };
  const batchSize = checkInt(op, "batchSize", options.batchSize ?? (model.batch || 32), 1);
  const parts: Float32Array[] = [];
  const meta: { batches?: number } = {};
  try {
    const it = batchesOf(op, s, x, options, { batchSize, training: false, seed: 0, shuffle: false, dropLast: false }, meta);
    for (let r = it.next(); !r.done; ) {
      if (!isPrepared(r.value)) {
        r = it.next(yield r.value);
        continue;
      }
      const { batch, where } = r.value;
      checkInputs(op, batch.x, batch.n, batch.indices, where);
      if (model.batch !== batch.n) model.plan(batch.n);
      parts.push(model.forward(batch.x, { training: false }).data.slice());
      r = it.next();
    }
  } finally {
    for (const b of s.buffers.values()) b.dispose();
  }
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// drivers

function runSync<T>(op: string, g: Generator<unknown, T, unknown>): T {
  let r = g.next();
  while (!r.done) {
    const v = r.value;
    if (v !== null && typeof v === "object" && typeof (v as PromiseLike<unknown>).then === "function") {
      g.return(undefined as T);
      fail(op, `an async data stream or a callback's promise needs ${op}Async`);
    }
    r = g.next(v === TICK ? undefined : v);
  }
  return r.value;
}

/** Resolves on a later turn of the event loop (after pending I/O and timers get a chance). */
function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => void };
  if (typeof g.setImmediate === "function") return new Promise((resolve) => g.setImmediate!(resolve));
  if (typeof MessageChannel === "function") {
    return new Promise((resolve) => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => {
        ch.port1.close();
        resolve();
      };
      ch.port2.postMessage(0);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}

async function runAsync<T>(g: Generator<unknown, T, unknown>): Promise<T> {
  let r = g.next();
  while (!r.done) {
    let v: unknown;
    try {
      v = r.value === TICK ? await yieldToEventLoop() : await r.value;
    } catch (err) {
      r = g.throw(err);
      continue;
    }
    r = g.next(v);
  }
  return r.value;
}

// ---------------------------------------------------------------------------------------------
// the public functions

/**
 * Trains `model` on `data`: in-memory items (float32 or byte images NHWC with any channel count,
 * or grey byte images as loadMnistLike gives them) or a synchronous stream of batches, with integer
 * labels or dense targets. Plans the model for the batch size. Before every update it checks the
 * loss and every gradient: a non-finite one stops training with a SimdnetError naming epoch and
 * step, and that step is not applied (weights, optimizer state and batch-norm statistics stay as
 * they were). Returns the per-epoch history. See fitAsync for async streams and callbacks.
 */
export function fit(model: Model, data: TrainingData, options: FitOptions): EpochInfo[] {
  return runSync("fit", fitLoop(model, data, options));
}

/** fit that yields to the event loop after every batch and awaits async streams and callbacks. */
export function fitAsync(model: Model, data: TrainingData, options: FitOptions): Promise<EpochInfo[]> {
  return runAsync(fitLoop(model, data, options));
}

function evaluateGen(model: Model, data: TrainingData, options: EvaluateOptions): Generator<unknown, Evaluation, unknown> {
  const op = "evaluate";
  checkOptions(op, "options", options);
  const s = setup(op, model, data, options);
  const batchSize = checkInt(op, "batchSize", options.batchSize ?? (model.batch || 32), 1);
  const g = evaluateLoop(op, s, data, options, batchSize, true);
  return (function* () {
    try {
      return yield* g;
    } finally {
      for (const b of s.buffers.values()) b.dispose();
    }
  })();
}

/**
 * Loss and metrics of `model` (inference mode) over `data`, and the predicted class of every item
 * for vector outputs. Throws if the loss is not finite.
 */
export function evaluate(model: Model, data: TrainingData, options: EvaluateOptions = {}): Evaluation {
  return runSync("evaluate", evaluateGen(model, data, options));
}

/** evaluate over async streams, yielding to the event loop between batches. */
export function evaluateAsync(model: Model, data: TrainingData, options: EvaluateOptions = {}): Promise<Evaluation> {
  return runAsync(evaluateGen(model, data, options));
}

/** The model's outputs (inference mode) for every item of `x`, `[count, ...output shape]` row-major. */
export function predict(model: Model, x: Float32Array | Uint8Array | Tensor | TrainingData, options: DataOptions = {}): Float32Array {
  checkOptions("predict", "options", options);
  return runSync("predict", predictLoop("predict", model, asData(x), options));
}

/** predict over async streams. */
export function predictAsync(model: Model, x: Float32Array | Uint8Array | Tensor | TrainingData, options: DataOptions = {}): Promise<Float32Array> {
  checkOptions("predictAsync", "options", options);
  return runAsync(predictLoop("predict", model, asData(x), options));
}

const asData = (x: unknown): TrainingData => (x instanceof Float32Array || x instanceof Uint8Array || x instanceof Tensor ? { x } : (x as TrainingData));
