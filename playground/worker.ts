// The playground's Web Worker: owns the simdnet engine and a LeNet-5, trains it on the embedded
// Fashion-MNIST subset (fetched from /data/) in short chunks so requests are answered between
// them, and answers predictions with their saliency maps. Bundled by scripts/build.mjs to
// build/playground/worker.js. Messages: see the Request / Reply types below.
import { init, type Engine } from "../src/engine.js";
import type { BuildName } from "../src/runtime.js";
import { shuffledIndices, toFloatImages } from "../src/data/batches.js";
import { type LabeledImages, loadEmbedded, type MnistLike } from "../src/data/mnist.js";
import { createModel, type Model } from "../src/model/model.js";
import { lenet5 } from "../src/model/zoo.js";
import { evaluate, fit } from "../src/train/fit.js";
import { SGD } from "../src/train/optimizers.js";
import { filterGrid } from "../src/viz/layers.js";
import { saliency } from "../src/viz/gradients.js";
import { mapToImage, toRgba, upscale } from "../src/viz/image.js";
import { TextTab, type TextReply, type TextRequest } from "./text.js";

export type Request =
  | { type: "init"; build?: "auto" | BuildName }
  | { type: "train"; epochs: number; batchSize: number; lr: number; chunk?: number }
  | { type: "stop" }
  | { type: "testImage"; index: number }
  | { type: "predict"; image: Float32Array; id: number }
  | TextRequest;

export type Reply =
  | {
      type: "ready";
      build: BuildName;
      crossOriginIsolated: boolean;
      sharedMemory: boolean;
      threads: string;
      trainCount: number;
      testCount: number;
      filters: Picture;
    }
  | { type: "step"; epoch: number; step: number; stepsPerEpoch: number; loss: number; accuracy: number; imagesPerSecond: number }
  | { type: "filters"; filters: Picture }
  | { type: "epoch"; epoch: number; testAccuracy: number; testLoss: number }
  | { type: "done"; stopped: boolean }
  | { type: "testImage"; index: number; image: Float32Array; label: number }
  | { type: "prediction"; id: number; probs: number[]; predicted: number; saliency: Picture }
  | { type: "error"; message: string }
  | TextReply;

/** RGBA pixels for a canvas ImageData. */
export interface Picture {
  width: number;
  height: number;
  rgba: Uint8ClampedArray;
}

interface WorkerScope {
  postMessage(message: Reply, transfer?: Transferable[]): void;
  onmessage: ((ev: MessageEvent<Request>) => void) | null;
  crossOriginIsolated?: boolean;
}
const scope = self as unknown as WorkerScope;
const post = (m: Reply, transfer: Transferable[] = []) => scope.postMessage(m, transfer);

let engine: Engine;
let model: Model;
let data: MnistLike;
let stopRequested = false;
let training = false;
let text: TextTab | undefined;

/**
 * Threads: a shared wasm memory needs SharedArrayBuffer, which a page only has when it is
 * cross-origin isolated (COOP same-origin + COEP require-corp, sent by scripts/playground.mjs).
 * Then this worker asks for a thread pool (the engine falls back to one thread, with a reason,
 * where it cannot have one); otherwise, or when a build is forced, it runs on one thread.
 */
function threadCount(isolated: boolean, forcedBuild: boolean): number {
  if (!isolated || forcedBuild) return 1;
  return Math.max(2, Math.min(4, navigator.hardwareConcurrency || 2));
}

function threadsStatus(isolated: boolean): string {
  if (engine.threads > 1) return `on: ${engine.threads} threads (cross-origin isolated, ${engine.build} build)`;
  if (!isolated) return "off: the page is not cross-origin isolated";
  return `off: ${engine.threadsReason || "a build was forced with ?build="}`;
}

const picture = (img: { width: number; height: number; data: Uint8Array }): Picture => ({ width: img.width, height: img.height, rgba: toRgba(img) });
const filtersPicture = () => picture(filterGrid(model, { scale: 12, gap: 4, columns: 3 }));

function softmax(v: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(v));
  const e = Array.from(v, (x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** A shuffled copy of the training images (one epoch's order), as a LabeledImages. */
function shuffled(set: LabeledImages, seed: number): LabeledImages {
  const order = shuffledIndices(set.count, seed),
    px = set.height * set.width;
  const images = new Uint8Array(set.images.length),
    labels = new Uint8Array(set.count);
  order.forEach((j, i) => {
    images.set(set.images.subarray(j * px, (j + 1) * px), i * px);
    labels[i] = set.labels[j]!;
  });
  return { ...set, images, labels };
}

const slice = (set: LabeledImages, start: number, count: number): LabeledImages => {
  const px = set.height * set.width;
  return { ...set, count, images: set.images.subarray(start * px, (start + count) * px), labels: set.labels.subarray(start, start + count) };
};

const yieldToMessages = () => new Promise((resolve) => setTimeout(resolve, 0));

async function train(req: Extract<Request, { type: "train" }>): Promise<void> {
  if (training) return;
  training = true;
  stopRequested = false;
  const optimizer = new SGD({ lr: req.lr, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  const B = req.batchSize,
    chunkSteps = req.chunk ?? 8;
  const stepsPerEpoch = Math.floor(data.train.count / B);
  try {
    for (let epoch = 1; epoch <= req.epochs && !stopRequested; epoch++) {
      const order = shuffled(data.train, epoch);
      for (let s0 = 0; s0 < stepsPerEpoch && !stopRequested; s0 += chunkSteps) {
        const steps = Math.min(chunkSteps, stepsPerEpoch - s0);
        fit(model, slice(order, s0 * B, steps * B), {
          epochs: 1,
          batchSize: B,
          optimizer,
          seed: epoch * 1000 + s0,
          onBatch: (s) =>
            post({ type: "step", epoch, step: s0 + s.batch, stepsPerEpoch, loss: s.loss, accuracy: s.accuracy ?? 0, imagesPerSecond: s.imagesPerSecond }),
        });
        post({ type: "filters", filters: filtersPicture() });
        await yieldToMessages(); // predictions and stop requests are answered here
      }
      const ev = evaluate(model, data.test, { batchSize: 100 });
      post({ type: "epoch", epoch, testAccuracy: ev.accuracy ?? 0, testLoss: ev.loss });
    }
    post({ type: "done", stopped: stopRequested });
  } finally {
    training = false;
  }
}

function predict(req: Extract<Request, { type: "predict" }>): void {
  if (model.batch !== 1) model.plan(1);
  const probs = softmax(model.forward(req.image).data);
  const predicted = probs.indexOf(Math.max(...probs));
  const s = saliency(model, req.image, predicted);
  const heat = upscale(mapToImage(s.map, s.width, s.height, { colorMap: "heat" }), 10);
  post({ type: "prediction", id: req.id, probs, predicted, saliency: picture(heat) });
}

async function handle(req: Request): Promise<void> {
  switch (req.type) {
    case "init": {
      const isolated = scope.crossOriginIsolated === true;
      engine = await init({ build: req.build ?? "auto", threads: threadCount(isolated, req.build !== undefined && req.build !== "auto") });
      model = createModel(engine, lenet5(), { seed: 1 });
      data = await loadEmbedded(new URL("/data/", self.location.origin));
      post({
        type: "ready",
        build: engine.build,
        crossOriginIsolated: isolated,
        sharedMemory: typeof SharedArrayBuffer === "function",
        threads: threadsStatus(isolated),
        trainCount: data.train.count,
        testCount: data.test.count,
        filters: filtersPicture(),
      });
      return;
    }
    case "train":
      return train(req);
    case "stop":
      stopRequested = true;
      return;
    case "testImage": {
      const index = Math.max(0, Math.min(data.test.count - 1, Math.trunc(req.index)));
      const image = toFloatImages(data.test, "unit", [index]);
      post({ type: "testImage", index, image, label: data.test.labels[index]! }, [image.buffer]);
      return;
    }
    case "predict":
      return predict(req);
    default:
      text ??= new TextTab(engine, post);
      return text.handle(req);
  }
}

scope.onmessage = (ev) => {
  handle(ev.data).catch((err: unknown) => post({ type: "error", message: err instanceof Error ? `${err.message}` : String(err) }));
};
