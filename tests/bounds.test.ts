// Memory safety: every kernel writes its outputs and nothing else. Each case allocates its inputs and
// its outputs with guard tensors packed around every output, runs the op into those outputs, and
// checks that every other live tensor (inputs and guards) is bit-for-bit unchanged. Sizes are odd
// so SIMD tiles and tails both run at the edges of the outputs.
import { describe, expect, it } from "vitest";
import * as nn from "../src/index.js";
import type { Engine, Tensor } from "../src/index.js";
import { fmtShape, fmtValue } from "../src/errors.js";
import { BUILDS_UNDER_TEST, engineFor, uniform } from "./harness.js";

interface Case {
  name: string;
  /** Makes inputs with `input`, outputs with `output`, and returns the op to run. */
  setup(input: (shape: number[]) => Tensor, output: (shape: number[]) => Tensor, e: Engine): () => void;
}

let seed = 1;
const CASES: Case[] = [
  {
    name: "conv2d forward + backward (3x3, stride 2, asymmetric pads)",
    setup: (input, output) => {
      const opts = { strides: 2, pads: [1, 0, 2, 1] as [number, number, number, number] };
      const x = input([2, 7, 9, 5]),
        w = input([3, 3, 5, 9]),
        b = input([9]);
      const [n, oh, ow, oc] = nn.conv2dOutputShape(x.shape, w.shape, opts);
      const y = output([n, oh, ow, oc]),
        dy = input([n, oh, ow, oc]);
      const dx = output(x.shape as number[]),
        dw = output(w.shape as number[]),
        db = output([9]);
      return () => {
        nn.conv2d(x, w, b, opts, y);
        nn.conv2dBackward(dy, x, w, opts, { dx, dw, db });
      };
    },
  },
  {
    name: "conv2d depthwise and 1x1 (GEMM) forward + backward",
    setup: (input, output) => {
      const x = input([1, 5, 7, 13]),
        dwW = input([3, 3, 1, 13]),
        pw = input([1, 1, 13, 11]);
      const y1 = output([1, 5, 7, 13]),
        y2 = output([1, 5, 7, 11]);
      const dy1 = input([1, 5, 7, 13]),
        dy2 = input([1, 5, 7, 11]);
      const dx1 = output([1, 5, 7, 13]),
        dw1 = output([3, 3, 1, 13]),
        dx2 = output([1, 5, 7, 13]),
        dw2 = output([1, 1, 13, 11]);
      return () => {
        nn.conv2d(x, dwW, null, { groups: 13, pads: 1 }, y1);
        nn.conv2d(x, pw, null, {}, y2);
        nn.conv2dBackward(dy1, x, dwW, { groups: 13, pads: 1 }, { dx: dx1, dw: dw1 }, false);
        nn.conv2dBackward(dy2, x, pw, {}, { dx: dx2, dw: dw2 }, false);
      };
    },
  },
  {
    name: "convTranspose2d forward + backward (stride 2, output padding 1)",
    setup: (input, output) => {
      const opts = { strides: 2, pads: 1, outputPadding: 1 };
      const x = input([2, 3, 5, 7]),
        w = input([3, 3, 6, 7]),
        b = input([6]);
      const outShape = nn.convTranspose2dOutputShape(x.shape, w.shape, opts);
      const y = output(outShape),
        dy = input(outShape);
      const dx = output([2, 3, 5, 7]),
        dw = output([3, 3, 6, 7]),
        db = output([6]);
      return () => {
        nn.convTranspose2d(x, w, b, opts, y);
        nn.convTranspose2dBackward(dy, x, w, opts, { dx, dw, db });
      };
    },
  },
  {
    name: "dense / matmul forward + backward",
    setup: (input, output) => {
      const x = input([5, 19]),
        w = input([19, 11]),
        b = input([11]),
        dy = input([5, 11]);
      const y = output([5, 11]),
        dx = output([5, 19]),
        dw = output([19, 11]),
        db = output([11]);
      const at = input([19, 5]),
        yt = output([5, 11]);
      return () => {
        nn.dense(x, w, b, y);
        nn.denseBackward(dy, x, w, { dx, dw, db });
        nn.matmul(at, w, { transA: true }, yt);
      };
    },
  },
  {
    name: "dense on packed weights (4-row tiles, single rows, a partial strip)",
    setup: (input, output) => {
      const x = input([7, 19]),
        w = input([19, 11]),
        b = input([11]),
        x1 = input([1, 19]);
      const packed = nn.packDenseWeights(w);
      const y = output([7, 11]),
        y1 = output([1, 11]);
      return () => {
        nn.dense(x, packed, b, y);
        nn.dense(x1, packed, null, y1);
      };
    },
  },
  {
    name: "max / average / global pooling forward + backward",
    setup: (input, output, e) => {
      const x = input([2, 7, 9, 13]);
      const opts = { kernel: 3, strides: 2, pads: 1, ceilMode: true };
      const oshape = nn.pool2dOutputShape(x.shape, opts) as number[];
      const y = output(oshape),
        avg = output(oshape),
        dy = input(oshape);
      const argmax = e.ints(oshape);
      const dxMax = output(x.shape as number[]),
        dxAvg = output(x.shape as number[]);
      const g = output([2, 1, 1, 13]),
        dg = input([2, 1, 1, 13]),
        dxg = output(x.shape as number[]);
      return () => {
        nn.maxPool2d(x, opts, { y, argmax });
        nn.maxPool2dBackward(dy, argmax, x.shape, dxMax);
        nn.avgPool2d(x, opts, avg);
        nn.avgPool2dBackward(dy, x.shape, opts, dxAvg);
        nn.globalAvgPool(x, g);
        nn.globalAvgPoolBackward(dg, x.shape, dxg);
      };
    },
  },
  {
    name: "activations, softmax family forward + backward",
    setup: (input, output) => {
      const x = input([3, 17]),
        dy = input([3, 17]);
      const outs = Array.from({ length: 8 }, () => output([3, 17]));
      return () => {
        nn.sigmoid(x, outs[0]);
        nn.sigmoidBackward(dy, outs[0]!, outs[1]);
        nn.tanh(x, outs[2]);
        nn.softmax(x, outs[3]);
        nn.softmaxBackward(dy, outs[3]!, outs[4]);
        nn.logSoftmax(x, outs[5]);
        nn.leakyRelu(x, 0.1, outs[6]);
        nn.leakyReluBackward(dy, x, 0.1, outs[7]);
      };
    },
  },
  {
    name: "batch norm, LRN, concat forward + backward",
    setup: (input, output) => {
      const x = input([2, 3, 5, 13]),
        dy = input([2, 3, 5, 13]);
      const scale = input([13]),
        bias = input([13]),
        mean = input([13]),
        variance = input([13]);
      variance.set(variance.toArray().map((v) => Math.abs(v) + 0.5));
      const yInf = output([2, 3, 5, 13]),
        yTrain = output([2, 3, 5, 13]),
        dx = output([2, 3, 5, 13]);
      const dscale = output([13]),
        dbias = output([13]);
      const yLrn = output([2, 3, 5, 13]),
        dxLrn = output([2, 3, 5, 13]);
      const a = input([2, 3, 5, 5]),
        c = output([2, 3, 5, 18]),
        da = output([2, 3, 5, 5]),
        dx2 = output([2, 3, 5, 13]);
      const dc = input([2, 3, 5, 18]);
      return () => {
        nn.batchNormInference(x, scale, bias, mean, variance, {}, yInf);
        const saved = nn.batchNormTraining(x, scale, bias, {}, yTrain);
        nn.batchNormBackward(dy, x, scale, saved.mean, saved.invStd, { dx, dscale, dbias });
        saved.mean.dispose();
        saved.invStd.dispose();
        nn.lrn(x, { size: 5 }, yLrn);
        nn.lrnBackward(dy, x, yLrn, { size: 5 }, dxLrn);
        nn.concat([a, x], -1, c);
        nn.concatBackward(dc, [a, x], -1, [da, dx2]);
      };
    },
  },
];

describe.each(BUILDS_UNDER_TEST)("kernels write only their outputs, %s build", (build) => {
  it.each(CASES.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const e = await nn.init({ build }); // a fresh engine: allocations are packed, so guards touch outputs
    /** Byte ranges that must not change: inputs, and the guards plus padding around every output. */
    const watched: { what: string; start: number; end: number }[] = [];
    const f32 = () => new Float32Array(e.memory.buffer);
    const input = (shape: number[]) => {
      const t = e.tensor(
        shape,
        uniform(
          shape.reduce((p, q) => p * q, 1),
          seed++,
        ),
      );
      watched.push({ what: `input ${fmt(t)}`, start: t.ptr, end: t.ptr + t.size * 4 });
      return t;
    };
    const output = (shape: number[]) => {
      const before = e.tensor([4], GUARD);
      const t = e.tensor(
        shape,
        uniform(
          shape.reduce((p, q) => p * q, 1),
          seed++,
        ),
      );
      const after = e.tensor([4], GUARD);
      expect(before.ptr + 16).toBe(t.ptr); // packed: nothing lies between a guard and its output
      // the heap rounds sizes up to 16 bytes: the padding after the output is guarded too
      for (let a = t.ptr + t.size * 4; a < after.ptr; a += 4) f32()[a >> 2] = GUARD[0]!;
      watched.push({ what: `guard before output ${fmt(t)}`, start: before.ptr, end: t.ptr });
      watched.push({ what: `padding and guard after output ${fmt(t)}`, start: t.ptr + t.size * 4, end: after.ptr + 16 });
      return t;
    };
    const run = c.setup(input, output, e);
    const snapshot = watched.map((r) => new Uint32Array(e.memory.buffer.slice(r.start, r.end)));
    run();
    watched.forEach((r, i) => {
      const now = new Uint32Array(e.memory.buffer.slice(r.start, r.end));
      const changed = now.findIndex((v, j) => v !== snapshot[i]![j]);
      expect(changed, `${r.what} was written at its element ${changed}`).toBe(-1);
    });
  });
});

/** Small values: an added or stored stray value changes them. */
const GUARD = [0.375, -1.625, 2.875, -0.5];
const fmt = (t: Tensor) => `[${t.shape.join(",")}]`;

// ---------------------------------------------------------------------------------------------
// Arguments of the wrong type. A shape argument (xShape, wShape, a tensor shape, a model's
// inputShape...) that is not an array of integers of the right rank, and an options object or
// hyper-parameter of the wrong type, must fail with a SimdnetError that names the op and the
// argument: never a TypeError from inside the library, never a silent result.

/** Runs `fn`, which must throw a SimdnetError whose message starts with (or matches) `message`. */
function expectArgError(fn: () => unknown, message: string | RegExp, what = ""): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `${what}: no error`).toBeDefined();
  expect(err, `${what}: ${String(err)}`).toBeInstanceOf(nn.SimdnetError);
  const text = (err as Error).message;
  if (typeof message === "string") expect(text.startsWith(message), `${what}: "${text}" does not start with "${message}"`).toBe(true);
  else expect(text, what).toMatch(message);
}

const HOLE = [1, , 5, 3];
/** Not an NHWC shape: wrong types, non-integer / negative / NaN entries, a wrong rank. */
const NOT_NHWC: unknown[] = [
  { pads: 1 },
  4,
  null,
  undefined,
  "1,5,5,3",
  Symbol("shape"),
  [1, Number.NaN, 5, 3],
  [1, -5, 5, 3],
  [1, 5.5, 5, 3],
  [1, 0, 5, 3],
  [1, Infinity, 5, 3],
  ["1", "5", "5", "3"],
  HOLE,
  [5, 5, 3],
  [1, 1, 5, 5, 3],
  [],
];
/** Not a shape of any rank with dimensions >= 0. */
const NOT_SHAPE: unknown[] = [{ pads: 1 }, 4, null, undefined, "23", Symbol("shape"), [2, Number.NaN], [-1], [2, 1.5], ["2"], [1, , 3], [[2]]];

describe("shape arguments of the wrong type or rank", () => {
  it("conv2dBackwardInput(dy, w, options-in-place-of-xShape) names xShape (the reported bug)", async () => {
    const e = await engineFor("scalar");
    e.tidy(() => {
      const w = e.tensor([3, 3, 3, 4], uniform(108, 1)),
        dy = e.tensor([1, 5, 5, 4], uniform(100, 2)),
        dx = e.zeros([1, 5, 5, 3]);
      expectArgError(
        () => nn.conv2dBackwardInput(dy, w, { pads: 1 } as never, dx as never),
        /^conv2dBackwardInput: xShape must be an array of 4 integers >= 1, got \{"pads":1\}$/,
      );
      expect(dx.toArray().every((v) => v === 0)).toBe(true); // nothing was written
      // the same call with the shape works
      const good = nn.conv2dBackwardInput(dy, w, [1, 5, 5, 3], { pads: 1 }, dx);
      expect(good).toBe(dx);
      expect(dx.toArray().some((v) => v !== 0)).toBe(true);
    });
  });

  it("a Tensor passed where its shape is expected says so", async () => {
    const e = await engineFor("scalar");
    e.tidy(() => {
      const x = e.zeros([1, 5, 5, 3]),
        dy = e.zeros([1, 5, 5, 4]);
      expectArgError(
        () => nn.conv2dBackwardFilter(dy, x, x as never, { pads: 1 }),
        "conv2dBackwardFilter: wShape must be an array of 4 integers >= 1, got a Tensor of shape [1,5,5,3] (pass its .shape)",
      );
      expectArgError(() => e.zeros(x as never), "Engine.zeros: shape must be an array of integers >= 0, got a Tensor of shape [1,5,5,3] (pass its .shape)");
    });
  });

  /** A public function with a shape argument: a call with `shape` in its place, the expected message, a good shape. */
  interface ShapeCase {
    name: string;
    call(e: Engine, shape: unknown): unknown;
    message: string;
    good: unknown;
    bad: unknown[];
    /** Checks the good call's result. */
    check?(result: unknown): void;
  }
  const shapeOf = (r: unknown) => (r as Tensor).shape;
  const CASES: ShapeCase[] = [
    {
      name: "conv2dOutputShape xShape",
      call: (_e, s) => nn.conv2dOutputShape(s as never, [3, 3, 3, 4], { pads: 1 }),
      message: "conv2dOutputShape: xShape must be an array of 4 integers >= 1, got ",
      good: [1, 5, 5, 3],
      bad: NOT_NHWC,
      check: (r) => expect(r).toEqual([1, 5, 5, 4]),
    },
    {
      name: "conv2dOutputShape wShape",
      call: (_e, s) => nn.conv2dOutputShape([1, 5, 5, 3], s as never),
      message: "conv2dOutputShape: wShape must be an array of 4 integers >= 1, got ",
      good: [3, 3, 3, 4],
      bad: NOT_NHWC,
      check: (r) => expect(r).toEqual([1, 3, 3, 4]),
    },
    {
      name: "convTranspose2dOutputShape xShape",
      call: (_e, s) => nn.convTranspose2dOutputShape(s as never, [3, 3, 2, 3]),
      message: "convTranspose2dOutputShape: xShape must be an array of 4 integers >= 1, got ",
      good: [1, 5, 5, 3],
      bad: NOT_NHWC,
      check: (r) => expect(r).toEqual([1, 7, 7, 2]),
    },
    {
      name: "convTranspose2dOutputShape wShape",
      call: (_e, s) => nn.convTranspose2dOutputShape([1, 5, 5, 3], s as never),
      message: "convTranspose2dOutputShape: wShape must be an array of 4 integers >= 1, got ",
      good: [3, 3, 2, 3],
      bad: NOT_NHWC,
      check: (r) => expect(r).toEqual([1, 7, 7, 2]),
    },
    {
      name: "conv2dBackwardInput xShape",
      call: (e, s) => nn.conv2dBackwardInput(e.zeros([1, 5, 5, 4]), e.zeros([3, 3, 3, 4]), s as never, { pads: 1 }),
      message: "conv2dBackwardInput: xShape must be an array of 4 integers >= 1, got ",
      good: [1, 5, 5, 3],
      bad: NOT_NHWC,
      check: (r) => expect(shapeOf(r)).toEqual([1, 5, 5, 3]),
    },
    {
      name: "conv2dBackwardFilter wShape",
      call: (e, s) => nn.conv2dBackwardFilter(e.zeros([1, 5, 5, 4]), e.zeros([1, 5, 5, 3]), s as never, { pads: 1 }),
      message: "conv2dBackwardFilter: wShape must be an array of 4 integers >= 1, got ",
      good: [3, 3, 3, 4],
      bad: NOT_NHWC,
      check: (r) => expect(shapeOf(r)).toEqual([3, 3, 3, 4]),
    },
    {
      name: "pool2dOutputShape xShape",
      call: (_e, s) => nn.pool2dOutputShape(s as never, { kernel: 2, strides: 2 }),
      message: "pool2dOutputShape: xShape must be an array of 4 integers >= 1, got ",
      good: [1, 4, 4, 3],
      bad: NOT_NHWC,
      check: (r) => expect(r).toEqual([1, 2, 2, 3]),
    },
    {
      name: "maxPool2dBackward xShape",
      call: (e, s) => nn.maxPool2dBackward(e.zeros([1, 2, 2, 3]), e.ints([1, 2, 2, 3]), s as never),
      message: "maxPool2dBackward: xShape must be an array of 4 integers >= 1, got ",
      good: [1, 4, 4, 3],
      bad: NOT_NHWC,
      check: (r) => expect(shapeOf(r)).toEqual([1, 4, 4, 3]),
    },
    {
      name: "avgPool2dBackward xShape",
      call: (e, s) => nn.avgPool2dBackward(e.zeros([1, 2, 2, 3]), s as never, { kernel: 2, strides: 2 }),
      message: "avgPool2dBackward: xShape must be an array of 4 integers >= 1, got ",
      good: [1, 4, 4, 3],
      bad: NOT_NHWC,
      check: (r) => expect(shapeOf(r)).toEqual([1, 4, 4, 3]),
    },
    {
      name: "globalAvgPoolBackward xShape",
      call: (e, s) => nn.globalAvgPoolBackward(e.zeros([1, 1, 1, 3]), s as never),
      message: "globalAvgPoolBackward: xShape must be an array of 4 integers >= 1, got ",
      good: [1, 4, 4, 3],
      bad: NOT_NHWC,
      check: (r) => expect(shapeOf(r)).toEqual([1, 4, 4, 3]),
    },
    {
      name: "globalMaxPoolBackward xShape",
      call: (e, s) => nn.globalMaxPoolBackward(e.zeros([1, 1, 1, 3]), e.ints([1, 1, 1, 3]), s as never),
      message: "globalMaxPoolBackward: xShape must be an array of 4 integers >= 1, got ",
      good: [1, 4, 4, 3],
      bad: NOT_NHWC,
      check: (r) => expect(shapeOf(r)).toEqual([1, 4, 4, 3]),
    },
    {
      name: "concatBackward inputs[k]",
      call: (e, s) => nn.concatBackward(e.zeros([2, 5]), [[2, 2], s as never]),
      message: "concatBackward: inputs[1] must be ",
      good: [2, 3],
      bad: [{ pads: 1 }, 4, null, undefined, "23", [2, Number.NaN], [2, -3], [2, 1.5], ["2", "3"], [2, , 3]],
      check: (r) =>
        expect((r as Tensor[]).map((t) => t.shape)).toEqual([
          [2, 2],
          [2, 3],
        ]),
    },
    {
      name: "Engine.empty shape",
      call: (e, s) => e.empty(s as never),
      message: "Engine.empty: shape must be an array of integers >= 0, got ",
      good: [2, 0, 3],
      bad: NOT_SHAPE,
      check: (r) => expect(shapeOf(r)).toEqual([2, 0, 3]),
    },
    {
      name: "Engine.tensor shape",
      call: (e, s) => e.tensor(s as never, [1, 2, 3, 4, 5, 6]),
      message: "Engine.tensor: shape must be an array of integers >= 0, got ",
      good: [2, 3],
      bad: NOT_SHAPE,
      check: (r) => expect(Array.from((r as Tensor).data)).toEqual([1, 2, 3, 4, 5, 6]),
    },
    {
      name: "Engine.zeros shape",
      call: (e, s) => e.zeros(s as never),
      message: "Engine.zeros: shape must be an array of integers >= 0, got ",
      good: [],
      bad: NOT_SHAPE,
      check: (r) => expect((r as Tensor).size).toBe(1),
    },
    {
      name: "Engine.ints shape",
      call: (e, s) => e.ints(s as never),
      message: "Engine.ints: shape must be an array of integers >= 0, got ",
      good: [3],
      bad: NOT_SHAPE,
      check: (r) => expect((r as Tensor).dtype).toBe("i32"),
    },
    {
      name: "createModel options.inputShape",
      call: (e, s) => nn.createModel(e, [{ type: "dense", units: 2 }], { inputShape: s as never }),
      message: "model: inputShape must be an array of 1 or more integers >= 1, got ",
      good: [2, 3],
      bad: [{ pads: 1 }, 4, "23", Symbol("shape"), [2, Number.NaN], [2, -3], [2, 0], [2, 1.5], ["2"], [1, , 3], []],
      check: (r) => expect((r as nn.Model).parameters()[0]!.value.shape).toEqual([6, 2]),
    },
    {
      name: "summary inputShape",
      call: (_e, s) => nn.summary({ inputShape: s as never, layers: [{ type: "dense", units: 2 }] }),
      message: "model: inputShape must be an array of 1 or more integers >= 1, got ",
      good: [4],
      bad: [{ pads: 1 }, 4, null, undefined, "23", [Number.NaN], [-3], [1.5], ["2"], [1, , 3], []],
      check: (r) => expect((r as nn.ModelSummary).rows.length).toBeGreaterThan(0),
    },
    {
      name: "encodeIdx dims",
      call: (_e, s) => nn.encodeIdx(s as never, new Uint8Array(6)),
      message: "encodeIdx: dims must be an array of 1 to 255 integers >= 0, got ",
      good: [2, 3],
      bad: [{ pads: 1 }, 4, null, undefined, "23", [2, Number.NaN], [-6], [2, 1.5], ["6"], [2, , 3], []],
      check: (r) => expect((r as Uint8Array).length).toBe(4 + 8 + 6),
    },
    {
      name: "neighbourGrid imageShape",
      call: (_e, s) => nn.neighbourGrid(new Float32Array(2 * 12), s as never, [0], [[1]]),
      message: "neighbourGrid: imageShape must be an array of 3 integers >= 1, got ",
      good: [2, 2, 3],
      bad: [{ pads: 1 }, 4, null, undefined, "223", [2, Number.NaN, 3], [2, -2, 3], [2, 2.5, 3], ["2", "2", "3"], [2, , 3], [4, 3], [1, 2, 2, 3]],
      check: (r) => expect((r as nn.RgbImage).width).toBeGreaterThan(0),
    },
  ];

  it.each(CASES.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const e = await engineFor("scalar");
    e.tidy(() => {
      for (const bad of c.bad)
        expectArgError(() => c.call(e, bad), c.message, `${c.name} with ${String(typeof bad === "symbol" ? "a symbol" : JSON.stringify(bad))}`);
      const result = c.call(e, c.good);
      c.check?.(result);
    });
  });
});

describe("options and numeric hyper-parameters of the wrong type", () => {
  it("options objects: null, numbers, strings, arrays fail naming the op", async () => {
    const e = await engineFor("scalar");
    e.tidy(() => {
      const x = e.tensor([1, 5, 5, 3], uniform(75, 3)),
        w = e.tensor([3, 3, 3, 4], uniform(108, 4)),
        c3 = e.tensor([3], [1, 1, 1]);
      for (const bad of [null, 4, "pads", [1]]) {
        expectArgError(() => nn.conv2d(x, w, null, bad as never), "conv2d: options must be an object, got ");
        expectArgError(() => nn.conv2dBackward(e.zeros([1, 3, 3, 4]), x, w, bad as never), "conv2dBackward: options must be an object, got ");
        expectArgError(() => nn.convTranspose2d(x, e.zeros([3, 3, 2, 3]), null, bad as never), "convTranspose2d: options must be an object, got ");
        expectArgError(() => nn.batchNormInference(x, c3, c3, c3, c3, bad as never), "batchNormInference: options must be an object, got ");
        expectArgError(() => nn.batchNormTraining(x, c3, c3, bad as never), "batchNormTraining: options must be an object, got ");
        expectArgError(() => nn.matmul(e.zeros([2, 3]), e.zeros([3, 2]), bad as never), "matmul: options must be an object, got ");
        expectArgError(() => nn.multiclassHingeLoss(e.zeros([2, 3]), e.ints([2]), bad as never), "multiclassHingeLoss: options must be an object, got ");
        expectArgError(() => nn.stepDecay(bad as never), "stepDecay: options must be an object, got ");
        expectArgError(() => nn.cosineDecay(bad as never), "cosineDecay: options must be an object, got ");
        expectArgError(() => new nn.Adam(bad as never), "Adam: options must be an object, got ");
        expectArgError(() => new nn.SGD(bad as never), "SGD: options must be an object, got ");
      }
      expectArgError(() => nn.stepDecay(undefined as never), "stepDecay: options {lr, every, factor?} are required");
      expectArgError(() => nn.cosineDecay(undefined as never), "cosineDecay: options {lr, total, minLr?, warmup?} are required");
      // the good calls still work
      expect(nn.conv2d(x, w, null, { pads: 1 }).shape).toEqual([1, 5, 5, 4]);
      expect(nn.conv2d(x, w).shape).toEqual([1, 3, 3, 4]);
      expect(nn.batchNormTraining(x, c3, c3).y.shape).toEqual([1, 5, 5, 3]);
      expect(nn.matmul(e.zeros([2, 3]), e.zeros([3, 2])).shape).toEqual([2, 2]);
      expect(nn.stepDecay({ lr: 1, every: 2 })(2)).toBeCloseTo(0.1);
      expect(new nn.Adam().lr).toBe(1e-3);
      expect(new nn.SGD({ lr: 0.5 }).lr).toBe(0.5);
    });
  });

  it("the grads objects of backward ops: null, numbers, arrays, tensors fail naming the op", async () => {
    const e = await engineFor("scalar");
    e.tidy(() => {
      const x = e.tensor([1, 5, 5, 3], uniform(75, 5)),
        w = e.tensor([3, 3, 3, 4], uniform(108, 6)),
        dy = e.tensor([1, 3, 3, 4], uniform(36, 7));
      const d2 = e.tensor([2, 3], uniform(6, 8)),
        a = e.tensor([2, 3], uniform(6, 9)),
        wd = e.tensor([3, 3], uniform(9, 10));
      const c3 = e.tensor([3], [1, 1, 1]);
      for (const bad of [null, 4, [x], x]) {
        expectArgError(() => nn.conv2dBackward(dy, x, w, {}, bad as never), "conv2dBackward: grads must be an object, got ");
        expectArgError(() => nn.convTranspose2dBackward(x, dy, w, {}, bad as never), "convTranspose2dBackward: grads must be an object, got ");
        expectArgError(() => nn.denseBackward(d2, a, wd, bad as never), "denseBackward: grads must be an object, got ");
        expectArgError(() => nn.matmulBackward(d2, a, wd, {}, bad as never), "matmulBackward: grads must be an object, got ");
        expectArgError(() => nn.addBackward(d2, bad as never), "addBackward: grads must be an object, got ");
        expectArgError(() => nn.preluBackward(x, x, c3, bad as never), "preluBackward: grads must be an object, got ");
        expectArgError(() => nn.batchNormBackward(x, x, c3, c3, c3, bad as never), "batchNormBackward: grads must be an object, got ");
      }
      // the good calls still work, with and without grads
      expect(nn.conv2dBackward(dy, x, w, {}, { dx: e.zeros(x.shape) }).dx.shape).toEqual([1, 5, 5, 3]);
      expect(nn.denseBackward(d2, a, wd).dw.shape).toEqual([3, 3]);
      expect(nn.addBackward(d2, {}).da.shape).toEqual([2, 3]);
    });
  });

  it("fit / evaluate options and batch sizes", async () => {
    const e = await engineFor("scalar");
    const model = nn.createModel(e, [{ type: "dense", units: 2 }], { inputShape: [2, 2, 1] });
    const data = { images: new Uint8Array(16), labels: new Uint8Array([0, 1, 0, 1]), count: 4, height: 2, width: 2 };
    const optimizer = new nn.SGD({ lr: 0.1 });
    expectArgError(() => nn.fit(model, data, undefined as never), "fit: options {epochs, batchSize, optimizer} are required");
    expectArgError(() => nn.fit(model, data, null as never), "fit: options must be an object, got null");
    expectArgError(() => nn.fit(model, data, { epochs: Symbol("e") as never, batchSize: 2, optimizer }), "fit: epochs must be an integer >= 1, got Symbol(e)");
    expectArgError(() => nn.evaluate(model, data, null as never), "evaluate: options must be an object, got null");
    expectArgError(() => nn.evaluate(model, data, { batchSize: "2" as never }), 'evaluate: batchSize must be an integer >= 1, got "2"');
    expect(nn.fit(model, data, { epochs: 1, batchSize: 2, optimizer })).toHaveLength(1);
    expect(nn.evaluate(model, data, { batchSize: 2 }).predictions).toHaveLength(4);
    model.dispose();
  });

  it("numbers: symbols, circular objects, strings and NaN get a SimdnetError, not a TypeError from the message", async () => {
    const e = await engineFor("scalar");
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    e.tidy(() => {
      const x = e.tensor([1, 4, 4, 3], uniform(48, 5)),
        w = e.zeros([3, 3, 3, 4]);
      expectArgError(() => nn.leakyRelu(x, Symbol("a") as never), "leakyRelu: alpha must be a finite number, got Symbol(a)");
      expectArgError(() => nn.conv2d(x, w, null, { groups: Symbol("g") as never }), "conv2d: groups must be an integer >= 1, got Symbol(g)");
      expectArgError(() => nn.conv2d(x, w, null, { strides: circular as never }), "conv2d: strides must be a number or [h, w], got [object Object]");
      expectArgError(
        () => nn.convTranspose2d(x, e.zeros([3, 3, 2, 3]), null, { outputShape: circular as never }),
        "convTranspose2d: outputShape must be [height, width], got ",
      );
      expectArgError(() => nn.maxPool2d(x, { kernel: circular as never }), "maxPool2d: kernel must be a number or an array of 2 numbers, got ");
      expectArgError(() => nn.concat([x, x], Symbol("axis") as never), "concat: axis must be an integer in [-4, 3] for rank-4 inputs, got Symbol(axis)");
      expectArgError(() => nn.axpy(x, x, Symbol("alpha") as never), "axpy: alpha must be finite, got Symbol(alpha)");
      expectArgError(() => nn.fill(x, Symbol("v") as never), "fill: value must be finite, got Symbol(v)");
      expectArgError(
        () => nn.dropout(x, { rate: 0.5, training: true, seed: Symbol("s") as never }),
        "dropout: seed must be an integer in [0, 2^32), got Symbol(s)",
      );
      expectArgError(
        () => nn.softmaxCrossEntropyBackward(e.zeros([2, 3]), e.ints([2]), Symbol("s") as never),
        "softmaxCrossEntropyBackward: scale must be a finite number, got Symbol(s)",
      );
      expectArgError(() => nn.lrn(x, { size: "3" as never }), 'lrn: size must be an integer >= 1, got "3"');
      expectArgError(() => x.set(null as never), "Tensor.set: values must be an array or typed array of numbers, got null");
      expectArgError(() => x.set(5 as never), "Tensor.set: values must be an array or typed array of numbers, got 5");
      expectArgError(() => e.empty([2], "f64" as never), 'Engine.empty: dtype must be "f32" or "i32", got "f64"');
      // the good calls
      expect(nn.leakyRelu(x, 0.1).shape).toEqual([1, 4, 4, 3]);
      expect(nn.concat([x, x], -1).shape).toEqual([1, 4, 4, 6]);
      expect(x.set(new Float32Array(48).fill(2)).data[47]).toBe(2);
    });
  });

  it("data and visualisation helpers check their sizes", async () => {
    expectArgError(() => nn.shuffledIndices(Number.NaN, 0), "shuffledIndices: n must be an integer >= 0, got NaN");
    expectArgError(() => nn.shuffledIndices(4, 0.5), "shuffledIndices: seed must be an integer, got 0.5");
    expectArgError(() => nn.batchCount(10, 0), "batchCount: batchSize must be an integer >= 1, got 0");
    expectArgError(() => nn.batchCount(10, null as never), "batchCount: batchSize must be an integer >= 1, got null");
    expectArgError(() => nn.batchCount(-1, 2), "batchCount: count must be an integer >= 0, got -1");
    expectArgError(() => nn.hwcToImage(new Float32Array(0), 0, 2, 3), "hwcToImage: height must be an integer >= 1, got 0");
    expectArgError(() => nn.hwcToImage(new Float32Array(12), 2, 2, Symbol("c") as never), "hwcToImage: channels must be an integer >= 1, got Symbol(c)");
    expectArgError(() => nn.mapToImage(new Float32Array(4), -2, -2), "mapToImage: width must be an integer >= 1, got -2");
    expectArgError(() => nn.upscale(nn.blankImage(2, 2), Symbol("f") as never), "upscale: factor must be a positive integer, got Symbol(f)");
    expectArgError(() => nn.tsneAffinities(new Float32Array(12), 2.5, 2, 1), "tsneAffinities: n must be an integer >= 2, got 2.5");
    expectArgError(() => nn.tsneAffinities(new Float32Array(12), 6, 2, 6), "tsneAffinities: perplexity must be in (0, 6) for 6 points, got 6");
    expectArgError(() => nn.tsneKl(new Float64Array(4), new Float32Array(4), 2, Number.NaN), "tsneKl: d must be an integer >= 1, got NaN");
    expect(Array.from(nn.shuffledIndices(4, 1)).sort()).toEqual([0, 1, 2, 3]);
    expect(nn.batchCount(10, 4)).toBe(3);
    expect(nn.hwcToImage(new Float32Array(12), 2, 2, 3).width).toBe(2);
    expect(
      nn.tsneAffinities(
        new Float32Array(12).map((_, i) => i),
        6,
        2,
        2,
      ),
    ).toHaveLength(36);
  });

  it("init checks its options", async () => {
    await expect(nn.init(null as never)).rejects.toThrow(/^init: options must be an object, got null$/);
    await expect(nn.init({ threads: Symbol("t") as never })).rejects.toThrow(nn.SimdnetError);
    await expect(nn.init({ threads: Symbol("t") as never })).rejects.toThrow("init: threads must be an integer >= 1, got Symbol(t)");
    await expect(nn.init({ threadTimeoutMs: Symbol("t") as never })).rejects.toThrow("init: threadTimeoutMs must be a number > 0 (ms), got Symbol(t)");
  });
});

describe("fmtShape / fmtValue (used while reporting errors) never throw", () => {
  it("formats shapes as before and anything else readably", () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const throwingJson = {
      toJSON() {
        throw new Error("no");
      },
    };
    expect(fmtShape([2, 28, 28, 1])).toBe("[2,28,28,1]");
    expect(fmtShape([])).toBe("[]");
    expect(fmtShape([1, Number.NaN, -2, 1.5])).toBe("[1,NaN,-2,1.5]");
    expect(fmtShape({ pads: 1 })).toBe('{"pads":1}');
    expect(fmtShape([1, , 3])).toBe("[1,undefined,3]");
    expect(fmtShape(["1"])).toBe('["1"]');
    expect(fmtShape(Symbol("s"))).toBe("Symbol(s)");
    expect(fmtShape(Int32Array.of(2, 3))).toBe("Int32Array of length 2");
    for (const v of [undefined, null, 4, "x", circular, proxy, throwingJson, () => 1, 10n, new Array(1000).fill(1)]) {
      expect(() => fmtShape(v), String(typeof v)).not.toThrow();
      expect(typeof fmtValue(v)).toBe("string");
    }
    expect(fmtValue(new Array(1000).fill(1)).length).toBeLessThan(220);
  });
});
