// Model.plan decides every node's algorithms and workspace from shapes and reserves one block for
// the largest: a planned training step (forward, backward, optimizer step) and an inference
// forward allocate nothing, and a plan made on an almost full heap chooses the same algorithms and
// computes the same bits as one made on an empty heap.
import { describe, expect, it } from "vitest";
import * as nn from "../src/index.js";
import { BUILDS_UNDER_TEST, engineFor, uniform } from "./harness.js";

/** Small-input ResNet-18 and VGG-16 (the shapes of issue 14's 69-85 allocations per step), and a model with every kind that has a workspace. */
const MODELS: [string, () => nn.ModelSpec | nn.AnyLayerSpec[], number[]][] = [
  ["ResNet-18 at 32x32", () => nn.resnet18({ inputSize: 32, classes: 10 }), [32, 32, 3]],
  ["VGG-16 at 32x32", () => nn.vgg16({ inputSize: 32, classes: 10, fcUnits: 64 }), [32, 32, 3]],
  [
    "conv, transposed conv, grouped conv, LRN, pools, dense",
    () => [
      { type: "conv", filters: 16, size: 3, pad: 1, activation: "relu" },
      { type: "lrn", size: 3 },
      { type: "pool", mode: "max", size: 2 },
      { type: "conv", filters: 64, size: 3, pad: 1, groups: 2 },
      { type: "convTranspose", filters: 8, size: 4, stride: 2, pad: 1, activation: "relu" },
      { type: "batchNorm" },
      { type: "pool", mode: "avg", size: 2 },
      { type: "dense", units: 512, activation: "relu" },
      { type: "dense", units: 10 },
    ],
    [16, 16, 3],
  ],
];

const size = (s: readonly number[]) => s.reduce((a, d) => a * d, 1);

describe.each(BUILDS_UNDER_TEST)("a planned model allocates nothing (%s build)", (build) => {
  it.each(MODELS)(
    "%s: training steps (forward, backward, SGD) and inference forwards",
    async (_name, spec, inShape) => {
      const e = await engineFor(build);
      const batch = 2;
      const m = nn.createModel(e, spec(), { inputShape: inShape, seed: 1 }).plan(batch);
      try {
        const x = e.tensor([batch, ...inShape], uniform(batch * size(inShape), 1));
        const out = m.forward(x, { training: true });
        const dOut = e.tensor(out.shape, uniform(out.size, 2));
        const sgd = new nn.SGD({ lr: 1e-3, momentum: 0.9 });
        const params = m.parameters();
        const step = () => {
          m.zeroGrads();
          m.forward(x, { training: true });
          m.backward(dOut);
          sgd.step(params);
        };
        let before = e.heap.allocationCount;
        step();
        expect(e.heap.allocationCount - before, "the first step: only the optimizer's velocity, one per parameter").toBe(params.length);
        expect(sgd.stateCount).toBe(params.length);
        before = e.heap.allocationCount;
        const bytes = e.memory.buffer.byteLength;
        step();
        step();
        m.forward(x, { training: false });
        m.backward(dOut, { inputGradient: false });
        expect(e.heap.allocationCount - before, "later steps and an inference forward").toBe(0);
        expect(e.memory.buffer.byteLength).toBe(bytes);
        expect([...m.forward(x).toArray()].every(Number.isFinite)).toBe(true);
        sgd.dispose();
        x.dispose();
        dOut.dispose();
      } finally {
        m.dispose();
      }
    },
    120_000,
  );

  it("an inference-only model (backward: false) plans forward workspaces only, and allocates nothing either", async () => {
    const e = await engineFor(build);
    const spec = nn.vgg16({ inputSize: 32, classes: 10, fcUnits: 64 });
    const inference = nn.createModel(e, spec, { backward: false, batch: 2 });
    const training = nn.createModel(e, spec, { batch: 2 });
    try {
      for (const [name, plan] of inference.layerPlans()) {
        if (plan.algorithms) expect(Object.keys(plan.algorithms), name).toEqual(["forward"]);
        expect(plan.workspaceBytes).toBeLessThanOrEqual(training.layerPlans().get(name)!.workspaceBytes);
      }
      const x = e.tensor([2, 32, 32, 3], uniform(2 * 32 * 32 * 3, 3));
      inference.forward(x);
      const before = e.heap.allocationCount;
      inference.forward(x);
      expect(e.heap.allocationCount - before).toBe(0);
      x.dispose();
    } finally {
      inference.dispose();
      training.dispose();
    }
  }, 120_000);
});

describe("a planned model on 2 threads", () => {
  it("ResNet-18: a training step, every call split, allocates nothing (parameter blocks for every part exist from init)", async () => {
    const e = await nn.init({ threads: 2 });
    try {
      e.minParallelWork = 0;
      const m = nn.createModel(e, nn.resnet18({ inputSize: 32, classes: 10 }), { seed: 1 }).plan(2);
      const x = e.tensor([2, 32, 32, 3], uniform(2 * 32 * 32 * 3, 1)),
        dOut = e.tensor([2, 10], uniform(20, 2));
      const before = e.heap.allocationCount;
      for (let i = 0; i < 2; i++) {
        m.zeroGrads();
        m.forward(x, { training: true });
        m.backward(dOut);
        new nn.SGD({ lr: 1e-3 }).step(m.parameters());
      }
      expect(e.heap.allocationCount - before).toBe(0);
      m.dispose();
    } finally {
      e.dispose();
    }
  }, 120_000);
});

describe("planning on an almost full heap", () => {
  it("chooses the same algorithms and computes the same bits as on an empty heap (VGG-16 and ResNet-18 at 32x32)", async () => {
    // two engines of the threads build (one thread), whose memory stops at 1 GiB (memoryLimit): one left empty,
    // one filled so that the models' own blocks fit with 64 KB to spare, less than any conv workspace
    const [empty, full] = [await nn.init({ build: "threads", memoryLimit: 2 ** 30 }), await nn.init({ build: "threads", memoryLimit: 2 ** 30 })];
    try {
      for (const [name, spec, inShape] of MODELS.slice(0, 2)) {
        const run = (e: nn.Engine) => {
          const m = nn.createModel(e, spec(), { inputShape: inShape, seed: 5 }).plan(2);
          const x = e.tensor([2, ...inShape], uniform(2 * size(inShape), 6));
          const y = m.forward(x, { training: true });
          const outputs = [y.data.slice()];
          m.backward(e.tensor(y.shape, uniform(y.size, 7)));
          for (const p of m.parameters()) outputs.push(p.grad.data.slice());
          outputs.push(m.forward(x).data.slice());
          return { m, outputs, plans: JSON.stringify([...m.layerPlans()]) };
        };
        const a = run(empty);
        const mem = a.m.memoryBytes();
        const need = mem.params + mem.paramGrads + mem.activations + mem.activationGrads + mem.scratch + 4 * (2 * size(inShape) + 2 * 10) + 4096;
        const filler = full.empty([Math.floor((2 ** 30 - full.heap.bytesInUse - need) / 4) - (64 << 10) / 4], "f32", "filler");
        const b = run(full);
        expect(2 ** 30 - full.heap.bytesInUse, `${name}: the heap is almost full`).toBeLessThan(256 << 10);
        expect(b.plans, name).toBe(a.plans);
        expect(b.plans).toMatch(/conv2d\.winograd|conv2d\.im2col|conv2d\.tiny/);
        a.outputs.forEach((v, i) => {
          const bad = v.findIndex((f, j) => !Object.is(f, b.outputs[i]![j]));
          expect(bad, `${name} output ${i}`).toBe(-1);
        });
        a.m.dispose();
        b.m.dispose();
        filler.dispose();
      }
    } finally {
      empty.dispose();
      full.dispose();
    }
  }, 240_000);
});
