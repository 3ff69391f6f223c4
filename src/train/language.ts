// Character-level language models (char-rnn): training by truncated backpropagation through time
// over a long text, evaluation in bits per character, and sampling. The model maps ids [T] to
// logits [T, vocab] with stateful recurrent layers (e.g. charLstm): the text is cut into
// `batchSize` contiguous streams, and step k feeds chunk k of every stream, so each row's state
// carries on from the previous chunk of the same stream while gradients stop at the chunk's start.
import { checkInt, fail } from "../errors.js";
import { checkOptions } from "../ops/common.js";
import { fill } from "../ops/elementwise.js";
import { softmaxCrossEntropy, softmaxCrossEntropyBackward } from "../ops/softmax.js";
import { Model } from "../model/model.js";
import type { GraphSpec } from "../model/spec.js";
import { mulberry32 } from "../random.js";
import { Tensor } from "../tensor.js";
import type { Optimizer } from "./optimizers.js";

/** Progress of one training step of fitLanguageModel (onStep). */
export interface LanguageStepInfo {
  epoch: number;
  /** Step within the epoch, from 1 (from firstStep + 1). */
  step: number;
  /** The step this call ends at (firstStep + the steps it runs). */
  steps: number;
  /** Mean cross-entropy of this step's predictions (nats per character). */
  loss: number;
  /** Training characters per second so far in this epoch. */
  charsPerSecond: number;
}

/** One epoch of fitLanguageModel (onEpoch and the returned history). */
export interface LanguageEpochInfo {
  epoch: number;
  /** Mean training loss, nats per character (bits: / ln 2). */
  loss: number;
  seconds: number;
  charsPerSecond: number;
  lr: number;
}

/** Options of fitLanguageModel. */
export interface LanguageFitOptions {
  epochs: number;
  /** Parallel streams of the text (the model's batch). */
  batchSize: number;
  optimizer: Optimizer;
  /** Learning rate per epoch (from 0). */
  schedule?: (epoch: number) => number;
  /** At most this many steps per epoch (default: the whole text). */
  maxSteps?: number;
  /**
   * Start each epoch at this chunk instead of 0, keeping the states the model carries (training in
   * slices with other work between them, as the playground's worker does); 0 (default) resets them.
   */
  firstStep?: number;
  onStep?: (info: LanguageStepInfo) => void;
  onEpoch?: (info: LanguageEpochInfo) => void;
}

/** Steps T (the model's input [T]) and vocabulary V (its output [T, V]). */
function sequenceDims(op: string, model: Model): [number, number] {
  const g = model.graph;
  if (g.inputs.length !== 1 || g.outputs.length !== 1) fail(op, "the model needs one input (ids [T]) and one output (logits [T, vocab])");
  const inShape = g.inputs[0]!.shape,
    outShape = g.shapes.get(g.outputs[0]!)!;
  if (inShape.length !== 1 || outShape.length !== 2 || outShape[0] !== inShape[0]) {
    fail(op, `the model must map ids [T] to logits [T, vocab], got [${inShape.join(",")}] -> [${outShape.join(",")}]`);
  }
  return [inShape[0]!, outShape[1]!];
}

/** Loss buffers of one geometry: labels, probabilities, logit gradients over B*T rows. */
function lossBuffers(model: Model, rows: number, vocab: number) {
  const e = model.engine;
  const labels = e.ints([rows]),
    probs = e.zeros([rows, vocab]),
    dlogits = e.zeros([rows, vocab]);
  return { labels, probs, dlogits, dispose: () => [labels, probs, dlogits].forEach((t) => t.dispose()) };
}

/** Chunks of `batch` streams of ids: stream b is ids[b*L, (b+1)*L), chunk k its steps [kT, kT + T] (+1 for the targets). */
function streams(ids: ArrayLike<number>, batch: number, steps: number): { length: number; chunks: number } {
  const length = Math.floor(ids.length / batch);
  return { length, chunks: Math.max(0, Math.floor((length - 1) / steps)) };
}

function fillChunk(ids: ArrayLike<number>, x: Float32Array, y: Int32Array, batch: number, steps: number, length: number, k: number): void {
  for (let b = 0; b < batch; b++) {
    const at = b * length + k * steps;
    for (let t = 0; t < steps; t++) {
      x[b * steps + t] = ids[at + t]!;
      y[b * steps + t] = ids[at + t + 1]!;
    }
  }
}

/**
 * Trains a language model on `ids` (a text's character ids) by truncated backpropagation through
 * time (see the top of this file). Each epoch starts from zero states. Returns the per-epoch
 * history; throws if the loss becomes non-finite.
 */
export function fitLanguageModel(model: Model, ids: ArrayLike<number>, options: LanguageFitOptions): LanguageEpochInfo[] {
  const op = "fitLanguageModel";
  if (options === undefined) fail(op, "options {epochs, batchSize, optimizer} are required");
  checkOptions(op, "options", options);
  const [T, V] = sequenceDims(op, model);
  const { epochs, batchSize: B, optimizer } = options;
  checkInt(op, "epochs", epochs, 1);
  checkInt(op, "batchSize", B, 1);
  const { length, chunks } = streams(ids, B, T);
  if (chunks < 1) fail(op, `the text has ${ids.length} characters: too few for ${B} streams of at least ${T + 1}`);
  const first = checkInt(op, "firstStep", options.firstStep ?? 0, 0);
  if (first >= chunks) fail(op, `firstStep ${first} is past the ${chunks} chunks of an epoch`);
  const steps = Math.min(chunks - first, options.maxSteps ?? chunks);
  if (model.batch !== B) model.plan(B);
  const e = model.engine,
    buf = lossBuffers(model, B * T, V);
  const x = new Float32Array(B * T),
    y = new Int32Array(B * T);
  const history: LanguageEpochInfo[] = [];
  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      if (options.schedule) optimizer.lr = options.schedule(epoch - 1);
      if (first === 0) model.resetStates();
      const started = performance.now();
      let lossSum = 0;
      for (let k = 0; k < steps; k++) {
        fillChunk(ids, x, y, B, T, length, first + k);
        const logits = model.forward(x, { training: true });
        buf.labels.set(y);
        const { loss } = softmaxCrossEntropy(new Tensor(e, logits.ptr, [B * T, V]), buf.labels, { probs: buf.probs });
        if (!Number.isFinite(loss)) fail(op, `the loss became ${loss} at epoch ${epoch}, step ${k + 1} (learning rate ${optimizer.lr} too high?)`);
        fill(buf.dlogits, 0);
        softmaxCrossEntropyBackward(buf.probs, buf.labels, 1 / (B * T), buf.dlogits);
        model.zeroGrads();
        model.backward(new Tensor(e, buf.dlogits.ptr, [B, T, V]), { inputGradient: false });
        optimizer.step(model.parameters());
        lossSum += loss;
        const seconds = (performance.now() - started) / 1000;
        options.onStep?.({ epoch, step: first + k + 1, steps: first + steps, loss, charsPerSecond: ((k + 1) * B * T) / seconds });
      }
      const seconds = (performance.now() - started) / 1000;
      const info = { epoch, loss: lossSum / steps, seconds, charsPerSecond: (steps * B * T) / seconds, lr: optimizer.lr };
      history.push(info);
      options.onEpoch?.(info);
    }
  } finally {
    buf.dispose();
  }
  return history;
}

/**
 * Mean cross-entropy of the model's next-character predictions over `ids` (inference mode, the
 * same streaming as training with the model's planned batch, from zero states): nats and bits
 * per character.
 */
export function evaluateLanguageModel(model: Model, ids: ArrayLike<number>, options: { batchSize?: number } = {}): { loss: number; bitsPerChar: number } {
  const op = "evaluateLanguageModel";
  const [T, V] = sequenceDims(op, model);
  const B = checkInt(op, "batchSize", checkOptions(op, "options", options).batchSize ?? (model.batch || 1), 1);
  const { length, chunks } = streams(ids, B, T);
  if (chunks < 1) fail(op, `the text has ${ids.length} characters: too few for ${B} streams of at least ${T + 1}`);
  if (model.batch !== B) model.plan(B);
  model.resetStates();
  const e = model.engine,
    buf = lossBuffers(model, B * T, V);
  const x = new Float32Array(B * T),
    y = new Int32Array(B * T);
  let sum = 0;
  try {
    for (let k = 0; k < chunks; k++) {
      fillChunk(ids, x, y, B, T, length, k);
      const logits = model.forward(x);
      buf.labels.set(y);
      sum += softmaxCrossEntropy(new Tensor(e, logits.ptr, [B * T, V]), buf.labels, { probs: buf.probs }).loss;
    }
  } finally {
    buf.dispose();
  }
  const loss = sum / chunks;
  return { loss, bitsPerChar: loss / Math.LN2 };
}

/**
 * A one-step copy of a stateful sequence model (ids [T] -> logits [T, V]) for generation: the same
 * layers and parameter values (copied now) with input [1] and batch 1. dispose() it when done.
 */
export function generatorModel(model: Model): Model {
  const op = "generatorModel";
  sequenceDims(op, model);
  const g = model.graph;
  const spec: GraphSpec = { inputs: [{ name: g.inputs[0]!.name, shape: [1] }], nodes: g.nodes.map((n) => n.spec), outputs: [...g.outputs] };
  const values = new Map([...model.stateDict()].map(([name, t]) => [name, t.toArray()])); // copies: allocating may move memory
  return new Model(model.engine, spec, { initialParams: values, backward: false, batch: 1 });
}

/** Options of sampleIds. */
export interface SampleOptions {
  /** Characters to generate. */
  length: number;
  /** Logits are divided by it before the softmax: < 1 sharper, > 1 more random. Default 1. */
  temperature?: number;
  /** Seed of the draws (default 1). */
  seed?: number;
  /** Ids fed first to set the state (default: none, from zero states). */
  prime?: ArrayLike<number>;
  /** The first id when there is no prime (default 0). */
  start?: number;
}

/**
 * Generates `length` ids from a one-step model (generatorModel): each step feeds the last id and
 * draws the next from softmax(logits / temperature). Starts from zero states, fed `prime` first.
 */
export function sampleIds(generator: Model, options: SampleOptions): Int32Array {
  const op = "sampleIds";
  checkOptions(op, "options", options);
  const [T, V] = sequenceDims(op, generator);
  if (T !== 1 || generator.batch !== 1) fail(op, "needs a one-step model planned for batch 1 (generatorModel)");
  const length = checkInt(op, "length", options.length, 0);
  const temperature = options.temperature ?? 1;
  if (!(temperature > 0 && Number.isFinite(temperature))) fail(op, `temperature must be a finite number > 0, got ${temperature}`);
  const random = mulberry32(options.seed ?? 1);
  const prime = options.prime && options.prime.length > 0 ? Array.from(options.prime) : [options.start ?? 0];
  for (const id of prime) if (!(Number.isInteger(id) && id >= 0 && id < V)) fail(op, `prime id ${id} is outside the vocabulary of ${V}`);
  generator.resetStates();
  const x = new Float32Array(1),
    p = new Float64Array(V),
    out = new Int32Array(length);
  let logits: Float32Array<ArrayBufferLike> = new Float32Array(V);
  for (const id of prime) {
    x[0] = id;
    logits = generator.forward(x).data;
  }
  for (let i = 0; i < length; i++) {
    let max = -Infinity;
    for (let j = 0; j < V; j++) max = Math.max(max, logits[j]! / temperature);
    let sum = 0;
    for (let j = 0; j < V; j++) sum += p[j] = Math.exp(logits[j]! / temperature - max);
    let u = random() * sum,
      next = V - 1;
    for (let j = 0; j < V; j++) {
      u -= p[j]!;
      if (u < 0) {
        next = j;
        break;
      }
    }
    out[i] = next;
    x[0] = next;
    logits = generator.forward(x).data;
  }
  return out;
}
