// fit / fitAsync / evaluate / predict on any data: RGB float NHWC arrays, byte images, streamed
// batches (sync and async), labels and dense targets, every loss, metrics, validation, callbacks
// (early stopping, checkpoints), seeded augmentation, and the refusal of non-finite steps.
import { describe, expect, it } from "vitest";
import {
  Adam,
  checkpoint,
  createModel,
  type DataBatch,
  earlyStopping,
  evaluate,
  fit,
  fitAsync,
  loadWeights,
  type Model,
  predict,
  SGD,
  SimdnetError,
} from "../src/index.js";
import { Pipeline } from "../src/train/data.js";
import { engineFor, rng } from "./harness.js";

/**
 * Two classes of 8x8 RGB images: class 0 red on the left half, class 1 red on the right half, with
 * noise and random green/blue. Float32 NHWC [count, 8, 8, 3].
 */
function rgbSet(count: number, seed: number) {
  const r = rng(seed);
  const x = new Float32Array(count * 8 * 8 * 3),
    labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 2;
    for (let y = 0; y < 8; y++) {
      for (let c = 0; c < 8; c++) {
        const o = ((i * 8 + y) * 8 + c) * 3;
        const left = c < 4;
        x[o] = (left === (i % 2 === 0) ? 0.8 : 0.1) + 0.2 * r();
        x[o + 1] = r();
        x[o + 2] = r();
      }
    }
  }
  return { x, labels, shape: [count, 8, 8, 3] };
}

const smallCnn = (classes: number) => [
  { type: "conv" as const, filters: 8, size: 3, pad: 1, activation: "relu" as const },
  { type: "pool" as const, mode: "max" as const, size: 2, stride: 2 },
  { type: "dense" as const, units: classes },
];

const weightsOf = (m: Model) => [...m.stateDict()].map(([n, t]) => [n, t.toArray()] as const);

describe("fit on any data", () => {
  it("trains a conv net on RGB float NHWC data, with metrics and validation", async () => {
    const e = await engineFor("simd");
    const model = createModel(e, smallCnn(2), { inputShape: [8, 8, 3], seed: 1 });
    const history = fit(model, rgbSet(128, 1), {
      epochs: 4,
      batchSize: 16,
      optimizer: new Adam({ lr: 0.01 }),
      seed: 2,
      validation: rgbSet(40, 2),
      metrics: ["accuracy"],
    });
    expect(history).toHaveLength(4);
    expect(history[3]!.loss).toBeLessThan(history[0]!.loss);
    expect(history[3]!.validation!.accuracy).toBeGreaterThan(0.9);
    expect(history[3]!.metrics.accuracy).toBe(history[3]!.accuracy);
    const ev = evaluate(model, rgbSet(40, 2), { batchSize: 16 }); // 40 = 2 batches + 8: the last one re-planned
    expect(ev.count).toBe(40);
    expect(ev.loss).toBeCloseTo(history[3]!.validation!.loss, 5);
    expect(ev.predictions).toHaveLength(40);
    // predict gives the outputs of forward, item by item
    const data = rgbSet(5, 3);
    const out = predict(model, data.x, { batchSize: 2 });
    expect(out).toHaveLength(10);
    model.plan(5);
    expect(Array.from(out)).toEqual(Array.from(model.forward(data.x).data));
    model.dispose();
  });

  it("byte images with any channel count, normalised per channel", async () => {
    const e = await engineFor("scalar");
    const model = createModel(e, [{ type: "dense", units: 2 }], { inputShape: [2, 2, 3], seed: 1 });
    const x = new Uint8Array(4 * 12).map((_, i) => (i * 37) % 256);
    const labels = [0, 1, 0, 1];
    const normalize = { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] };
    const a = predict(model, { x, shape: [4, 2, 2, 3], labels }, { normalize });
    const floats = Float32Array.from(x, (v, i) => (v / 255 - normalize.mean[i % 3]!) / normalize.std[i % 3]!);
    const b = predict(model, floats);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 5);
    expect(fit(model, { x, shape: [4, 2, 2, 3], labels }, { epochs: 2, batchSize: 2, optimizer: new SGD({ lr: 0.1 }), normalize })).toHaveLength(2);
    model.dispose();
  });

  it("dense targets: MSE regression, binary cross-entropy (multi-label), hinge with labels", async () => {
    const e = await engineFor("simd");
    const { x, labels } = rgbSet(64, 4);
    // regression: predict the mean red of the left half
    const targets = new Float32Array(64).map((_, i) => x[i * 192]!);
    const reg = createModel(e, smallCnn(1), { inputShape: [8, 8, 3], seed: 1 });
    const h = fit(reg, { x, targets }, { epochs: 5, batchSize: 16, optimizer: new Adam({ lr: 0.01 }), metrics: ["mae"] });
    expect(h[0]!.metrics.mae).toBeGreaterThan(0);
    expect(h[4]!.loss).toBeLessThan(h[0]!.loss * 0.5);
    // multi-label: [is class 0, is class 1] as independent sigmoid outputs
    const multi = new Float32Array(128).map((_, i) => ((i & 1) === labels[i >> 1] ? 1 : 0));
    const bce = createModel(e, smallCnn(2), { inputShape: [8, 8, 3], seed: 1 });
    const hb = fit(bce, { x, targets: multi }, { epochs: 4, batchSize: 16, optimizer: new Adam({ lr: 0.01 }), loss: "binaryCrossEntropy" });
    expect(hb[3]!.loss).toBeLessThan(hb[0]!.loss);
    expect(hb[3]!.accuracy).toBeGreaterThan(0.8);
    const hinge = createModel(e, smallCnn(2), { inputShape: [8, 8, 3], seed: 1 });
    const hh = fit(hinge, { x, labels }, { epochs: 4, batchSize: 16, optimizer: new Adam({ lr: 0.01 }), loss: "hinge" });
    expect(hh[3]!.loss).toBeLessThan(hh[0]!.loss);
    expect(() => fit(hinge, { x, labels }, { epochs: 1, optimizer: new SGD({ lr: 0.1 }), loss: "mse" })).toThrow(/the mse loss needs dense targets/);
    expect(() => fit(hinge, { x, targets: multi }, { epochs: 1, optimizer: new SGD({ lr: 0.1 }), loss: "softmaxCrossEntropy" })).toThrow(
      /needs integer labels/,
    );
    for (const m of [reg, bce, hinge]) m.dispose();
  });

  it("streams: a sync iterable in fit; async generators per epoch in fitAsync, which yields to the event loop", async () => {
    const e = await engineFor("simd");
    const data = rgbSet(64, 5);
    const batch = (k: number): DataBatch => ({ x: data.x.subarray(k * 16 * 192, (k + 1) * 16 * 192), labels: data.labels.subarray(k * 16, (k + 1) * 16) });
    const a = createModel(e, smallCnn(2), { inputShape: [8, 8, 3], seed: 1 });
    const syncStream = () => [0, 1, 2, 3].map(batch);
    const ha = fit(a, syncStream, { epochs: 2, optimizer: new SGD({ lr: 0.05 }) });
    expect(ha).toHaveLength(2);

    const b = createModel(e, smallCnn(2), { inputShape: [8, 8, 3], seed: 1 });
    const asyncStream = async function* () {
      for (let k = 0; k < 4; k++) {
        await new Promise((r) => setTimeout(r, 1));
        yield batch(k);
      }
    };
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const hb = await fitAsync(b, asyncStream, { epochs: 2, optimizer: new SGD({ lr: 0.05 }) });
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
    // the same batches in the same order: the same weights, bit for bit
    expect(hb.map((h) => h.loss)).toEqual(ha.map((h) => h.loss));
    expect(weightsOf(b)).toEqual(weightsOf(a));
    expect(() => fit(b, asyncStream, { epochs: 1, optimizer: new SGD({ lr: 0.05 }) })).toThrow(/needs fitAsync/);
    // a generator object runs once: a second epoch has no batches
    await expect(fitAsync(b, asyncStream(), { epochs: 2, optimizer: new SGD({ lr: 0.05 }) })).rejects.toThrow(/gave no batches/);
    a.dispose();
    b.dispose();
  });

  it("earlyStopping stops on a plateau and restores the best weights; checkpoint hands over loadable safetensors", async () => {
    const e = await engineFor("simd");
    const model = createModel(e, smallCnn(2), { inputShape: [8, 8, 3], seed: 1 });
    const saved: { epoch: number; bytes: Uint8Array }[] = [];
    const states: ReturnType<typeof weightsOf>[] = [];
    const history = fit(model, rgbSet(64, 6), {
      epochs: 20,
      batchSize: 16,
      optimizer: new Adam({ lr: 0.3 }),
      seed: 1,
      validation: rgbSet(32, 7),
      callbacks: [
        { onEpoch: () => void states.push(weightsOf(model)) },
        earlyStopping({ patience: 1, monitor: "val.loss" }),
        checkpoint({ save: (bytes, info) => void saved.push({ epoch: info.epoch, bytes }) }),
      ],
    });
    const last = history[history.length - 1]!;
    expect(history.length).toBeLessThan(20);
    expect(last.stopped).toMatch(/early stopping: val.loss did not improve for 2 epochs/);
    const losses = history.map((h) => h.validation!.loss);
    const best = losses.indexOf(Math.min(...losses));
    expect(weightsOf(model)).toEqual(states[best]);
    expect(saved.map((s) => s.epoch)).toEqual(history.map((h) => h.epoch));
    const other = createModel(e, smallCnn(2), { inputShape: [8, 8, 3], seed: 9 });
    expect(loadWeights(other, saved[0]!.bytes).epoch).toBe("1");
    expect(weightsOf(other)).toEqual(states[0]);
    model.dispose();
    other.dispose();
  });

  it("augmentation is seeded: flips mirror, padded crops shift, the same seed trains the same weights", async () => {
    const x = Float32Array.from({ length: 2 * 4 * 4 * 2 }, (_, i) => i);
    const items = { count: 2, itemShape: [4, 4, 2], x: () => x, bytes: false };
    const flip = new Pipeline("t", [4, 4, 2], [4, 4, 2], false, "unit", { flip: true });
    const out = new Float32Array(x.length);
    flip.fill(out, items, [0, 1], () => 0.9); // always flip
    for (let y = 0; y < 4; y++) for (let c = 0; c < 4; c++) expect(out[(y * 4 + c) * 2]).toBe(x[(y * 4 + 3 - c) * 2]);
    const crop = new Pipeline("t", [4, 4, 2], [4, 4, 2], false, "unit", { crop: { padding: 1 } });
    crop.fill(out, items, [0, 1], undefined, () => 0); // window at the top-left corner: shifted by one pixel
    expect(out[0]).toBe(0); // padding
    expect(out[(1 * 4 + 1) * 2]).toBe(x[0]);
    const big = new Pipeline("t", [2, 2, 2], [4, 4, 2], false, "unit", { crop: {} }); // evaluation: the centre
    const centre = new Float32Array(8);
    big.fill(centre, items, [0]);
    expect(Array.from(centre)).toEqual([10, 11, 12, 13, 18, 19, 20, 21]);
    expect(() => new Pipeline("fit", [2, 2, 2], [4, 4, 2], false, "unit", {})).toThrow(/larger images need augment.crop/);

    const e = await engineFor("simd");
    const run = (seed: number) => {
      const m = createModel(e, smallCnn(2), { inputShape: [8, 8, 3], seed: 1 });
      fit(m, rgbSet(64, 8), { epochs: 2, batchSize: 16, optimizer: new SGD({ lr: 0.05 }), seed, augment: { flip: true, crop: { padding: 2 } } });
      const w = weightsOf(m);
      m.dispose();
      return w;
    };
    expect(run(5)).toEqual(run(5));
    expect(run(5)).not.toEqual(run(6));
  });
});

describe("fit refuses what would corrupt a model (issue 18 item 7)", () => {
  it("a diverging step is not applied: weights and batch-norm statistics are bitwise those before it", async () => {
    const e = await engineFor("simd");
    const model = createModel(e, [{ type: "conv", filters: 4, size: 3, pad: 1 }, { type: "batchNorm" }, { type: "relu" }, { type: "dense", units: 2 }], {
      inputShape: [8, 8, 3],
      seed: 1,
    });
    let before = weightsOf(model);
    const optimizer = new SGD({ lr: 1e30 });
    let error: unknown;
    try {
      fit(model, rgbSet(64, 9), { epochs: 3, batchSize: 16, optimizer, onBatch: () => void (before = weightsOf(model)) });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SimdnetError);
    expect(String(error)).toMatch(/fit: the (loss|gradient of \S+) became (NaN|-?Infinity).* at epoch \d, step \d+ .*the step was not applied/);
    expect(weightsOf(model)).toEqual(before);
    for (const [, v] of weightsOf(model)) expect(v.every(Number.isFinite)).toBe(true);
    model.dispose();
  });

  it("a NaN in the data is named (item and value) and changes nothing, batch-norm statistics included", async () => {
    const e = await engineFor("simd");
    const model = createModel(e, [{ type: "conv", filters: 4, size: 3, pad: 1 }, { type: "batchNorm" }, { type: "relu" }, { type: "dense", units: 2 }], {
      inputShape: [8, 8, 3],
      seed: 1,
    });
    const data = rgbSet(32, 10);
    data.x[5 * 192 + 7] = NaN;
    const before = weightsOf(model);
    expect(() => fit(model, data, { epochs: 1, batchSize: 32, optimizer: new SGD({ lr: 0.1 }), shuffle: false })).toThrow(
      /fit: epoch 1, step 1 .*: item 5 holds NaN at value 7/,
    );
    expect(weightsOf(model)).toEqual(before);
    model.dispose();
  });

  it("checks count against the image data, refuses evaluate's NaN loss, and labels of the wrong count", async () => {
    const e = await engineFor("scalar");
    const model = createModel(e, [{ type: "dense", units: 2 }], { inputShape: [2, 2, 1], seed: 1 });
    const optimizer = new SGD({ lr: 0.1 });
    const data = { images: new Uint8Array(16), labels: new Uint8Array([0, 1, 0, 1]), count: 5, height: 2, width: 2 };
    expect(() => fit(model, data, { epochs: 1, batchSize: 2, optimizer })).toThrow("fit: data.images has 16 bytes but count 5 x 2 x 2 needs 20");
    expect(() => evaluate(model, { ...data, count: 4, labels: new Uint8Array(3) })).toThrow("evaluate: data.labels has 3 labels for 4 images");
    expect(() => fit(model, { x: new Float32Array(16), labels: [0, 1, 0] }, { epochs: 1, batchSize: 2, optimizer })).toThrow(
      "data.labels has 3 labels for 4 items",
    );
    model.stateDict().get("dense1.weight")!.data[0] = NaN;
    expect(() => evaluate(model, { ...data, count: 4 })).toThrow(/evaluate: the loss is NaN at batch 1/);
    model.dispose();
  });

  it("items that differ from the model's input only by extent-1 axes are the same bytes", () => {
    const items = { x: () => Float32Array.from({ length: 12 }, (_, i) => i) } as never;
    const out = new Float32Array(12);
    // grey images [2, 3, 1] into a sequence model taking [2, 3] (rows as time steps), and back
    new Pipeline("fit", [2, 3], [2, 3, 1], false, "unit", {}).fill(out.subarray(0, 6), items, [1]);
    expect([...out.subarray(0, 6)]).toEqual([6, 7, 8, 9, 10, 11]);
    new Pipeline("fit", [2, 3, 1], [1, 2, 3], false, "unit", {}).fill(out, items, [1, 0]);
    expect([...out]).toEqual([6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5]);
    expect(() => new Pipeline("fit", [3, 2, 1], [2, 3, 1], false, "unit", {})).toThrow(/items have shape \[2,3,1\] but the model takes \[3,2,1\]/);
  });
});
