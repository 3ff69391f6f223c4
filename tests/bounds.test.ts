// Memory safety: every kernel writes its outputs and nothing else. Each case allocates its inputs and
// its outputs with guard tensors packed around every output, runs the op into those outputs, and
// checks that every other live tensor (inputs and guards) is bit-for-bit unchanged. Sizes are odd
// so SIMD tiles and tails both run at the edges of the outputs.
import { describe, expect, it } from "vitest";
import * as nn from "../src/index.js";
import type { Engine, Tensor } from "../src/index.js";
import { BUILDS_UNDER_TEST, uniform } from "./harness.js";

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
      const x = input([2, 7, 9, 5]), w = input([3, 3, 5, 9]), b = input([9]);
      const [n, oh, ow, oc] = nn.conv2dOutputShape(x.shape, w.shape, opts);
      const y = output([n, oh, ow, oc]), dy = input([n, oh, ow, oc]);
      const dx = output(x.shape as number[]), dw = output(w.shape as number[]), db = output([9]);
      return () => {
        nn.conv2d(x, w, b, opts, y);
        nn.conv2dBackward(dy, x, w, opts, { dx, dw, db });
      };
    },
  },
  {
    name: "conv2d depthwise and 1x1 (GEMM) forward + backward",
    setup: (input, output) => {
      const x = input([1, 5, 7, 13]), dwW = input([3, 3, 1, 13]), pw = input([1, 1, 13, 11]);
      const y1 = output([1, 5, 7, 13]), y2 = output([1, 5, 7, 11]);
      const dy1 = input([1, 5, 7, 13]), dy2 = input([1, 5, 7, 11]);
      const dx1 = output([1, 5, 7, 13]), dw1 = output([3, 3, 1, 13]), dx2 = output([1, 5, 7, 13]), dw2 = output([1, 1, 13, 11]);
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
      const x = input([2, 3, 5, 7]), w = input([3, 3, 6, 7]), b = input([6]);
      const outShape = nn.convTranspose2dOutputShape(x.shape, w.shape, opts);
      const y = output(outShape), dy = input(outShape);
      const dx = output([2, 3, 5, 7]), dw = output([3, 3, 6, 7]), db = output([6]);
      return () => {
        nn.convTranspose2d(x, w, b, opts, y);
        nn.convTranspose2dBackward(dy, x, w, opts, { dx, dw, db });
      };
    },
  },
  {
    name: "dense / matmul forward + backward",
    setup: (input, output) => {
      const x = input([5, 19]), w = input([19, 11]), b = input([11]), dy = input([5, 11]);
      const y = output([5, 11]), dx = output([5, 19]), dw = output([19, 11]), db = output([11]);
      const at = input([19, 5]), yt = output([5, 11]);
      return () => {
        nn.dense(x, w, b, y);
        nn.denseBackward(dy, x, w, { dx, dw, db });
        nn.matmul(at, w, { transA: true }, yt);
      };
    },
  },
  {
    name: "max / average / global pooling forward + backward",
    setup: (input, output, e) => {
      const x = input([2, 7, 9, 13]);
      const opts = { kernel: 3, strides: 2, pads: 1, ceilMode: true };
      const oshape = nn.pool2dOutputShape(x.shape, opts) as number[];
      const y = output(oshape), avg = output(oshape), dy = input(oshape);
      const argmax = e.ints(oshape);
      const dxMax = output(x.shape as number[]), dxAvg = output(x.shape as number[]);
      const g = output([2, 1, 1, 13]), dg = input([2, 1, 1, 13]), dxg = output(x.shape as number[]);
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
      const x = input([3, 17]), dy = input([3, 17]);
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
      const x = input([2, 3, 5, 13]), dy = input([2, 3, 5, 13]);
      const scale = input([13]), bias = input([13]), mean = input([13]), variance = input([13]);
      variance.set(variance.toArray().map((v) => Math.abs(v) + 0.5));
      const yInf = output([2, 3, 5, 13]), yTrain = output([2, 3, 5, 13]), dx = output([2, 3, 5, 13]);
      const dscale = output([13]), dbias = output([13]);
      const yLrn = output([2, 3, 5, 13]), dxLrn = output([2, 3, 5, 13]);
      const a = input([2, 3, 5, 5]), c = output([2, 3, 5, 18]), da = output([2, 3, 5, 5]), dx2 = output([2, 3, 5, 13]);
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
      const t = e.tensor(shape, uniform(shape.reduce((p, q) => p * q, 1), seed++));
      watched.push({ what: `input ${fmt(t)}`, start: t.ptr, end: t.ptr + t.size * 4 });
      return t;
    };
    const output = (shape: number[]) => {
      const before = e.tensor([4], GUARD);
      const t = e.tensor(shape, uniform(shape.reduce((p, q) => p * q, 1), seed++));
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
