import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  avgPool2d,
  avgPool2dBackward,
  globalAvgPool,
  globalAvgPoolBackward,
  globalMaxPool,
  globalMaxPoolBackward,
  maxPool2d,
  maxPool2dBackward,
  type Pool2dOptions,
  pool2dOutputShape,
  SimdnetError,
} from "../src/index.js";
import { BUILDS_UNDER_TEST, dot, engineFor, expectClose, expectGradientMatches, ONNX_DIR, rng, uniform } from "./harness.js";
import { fileURLToPath } from "node:url";
import {
  nchwToNhwc,
  readOnnxNode,
  readOnnxTensor,
  type RefPoolParams,
  refAvgPool,
  refAvgPoolBackward,
  refGeometry,
  refGlobalPool,
  refMaxPool,
  refMaxPoolBackward,
} from "./reference/pool.js";

/** Channel counts around the 4-lane tile and the 8-channel (two-vector) blocks: 13 = 8 + 4 + 1. */
const CHANNELS = [1, 3, 4, 5, 8, 9, 13, 16, 17];

interface Case {
  name: string;
  shape: [number, number, number, number]; // N, H, W (C varies)
  p: RefPoolParams;
}

const CASES: Case[] = [
  { name: "k2 s2", shape: [2, 7, 5, 0], p: { kernel: [2, 2], strides: [2, 2] } },
  { name: "k2 s2 ceil", shape: [2, 7, 5, 0], p: { kernel: [2, 2], strides: [2, 2], ceilMode: true } },
  { name: "k3 s1 pads 1", shape: [2, 5, 6, 0], p: { kernel: [3, 3], pads: [1, 1, 1, 1] } },
  { name: "k3 s2 asym pads ceil", shape: [2, 7, 6, 0], p: { kernel: [3, 3], strides: [2, 2], pads: [1, 0, 2, 1], ceilMode: true } },
  // ceil mode adds a window whose last taps lie beyond the padded input (H 6, k3 s2, pad 1+1).
  { name: "k3 s2 pads 1 ceil beyond", shape: [2, 6, 6, 0], p: { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceilMode: true } },
  { name: "k3 s3 asym ceil", shape: [2, 8, 7, 0], p: { kernel: [3, 3], strides: [3, 3], pads: [0, 2, 1, 0], ceilMode: true } },
  { name: "k[3,2] s[2,1] SAME_UPPER", shape: [2, 7, 5, 0], p: { kernel: [3, 2], strides: [2, 1], autoPad: "SAME_UPPER" } },
  { name: "k2 s2 SAME_LOWER", shape: [2, 5, 7, 0], p: { kernel: [2, 2], strides: [2, 2], autoPad: "SAME_LOWER" } },
  { name: "k3 s2 SAME_LOWER", shape: [2, 6, 5, 0], p: { kernel: [3, 3], strides: [2, 2], autoPad: "SAME_LOWER" } },
  { name: "k2 s[1,3] VALID", shape: [2, 5, 7, 0], p: { kernel: [2, 2], strides: [1, 3], autoPad: "VALID" } },
  { name: "k3 s2 dil2 pads", shape: [2, 9, 7, 0], p: { kernel: [3, 3], strides: [2, 2], dilations: [2, 2], pads: [2, 1, 2, 2] } },
  { name: "k2 s2 dil[2,1] ceil", shape: [2, 7, 6, 0], p: { kernel: [2, 2], strides: [2, 2], dilations: [2, 1], ceilMode: true } },
  { name: "k3 s3 dil2 SAME_UPPER", shape: [2, 7, 8, 0], p: { kernel: [3, 3], strides: [3, 3], dilations: [2, 2], autoPad: "SAME_UPPER" } },
];

const shapeOf = (cs: Case, c: number): [number, number, number, number] => [cs.shape[0], cs.shape[1], cs.shape[2], c];
const options = (p: RefPoolParams, extra: Partial<Pool2dOptions> = {}): Pool2dOptions => ({ ...p, ...extra });

/** Distinct values (a scaled random permutation): no ties, so max pooling is differentiable. */
function distinct(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return Float32Array.from(order, (v) => (v - n / 2) * 0.05);
}

/** ONNX's own pooling conformance cases (NCHW, transposed to NHWC here). */
const ONNX_ROOT = fileURLToPath(ONNX_DIR).replace(/\/$/, "");
const ONNX_CASES = ["node", "pytorch-converted"].flatMap((dir) =>
  existsSync(`${ONNX_ROOT}/${dir}`)
    ? readdirSync(`${ONNX_ROOT}/${dir}`)
        .filter((name) => /pool(2d|_2d)|^test_global(average|max)pool/i.test(name))
        .map((name) => `${dir}/${name}`)
    : [],
);

/** ONNX node attributes -> Pool2dOptions. */
function onnxOptions(attributes: Record<string, number | number[] | string>): Pool2dOptions {
  const pair = (v: unknown) => v as [number, number];
  const opts: Pool2dOptions = { kernel: pair(attributes.kernel_shape) };
  if (attributes.strides) opts.strides = pair(attributes.strides);
  if (attributes.dilations) opts.dilations = pair(attributes.dilations);
  if (attributes.pads) opts.pads = attributes.pads as [number, number, number, number];
  if (attributes.auto_pad) opts.autoPad = attributes.auto_pad as Pool2dOptions["autoPad"];
  if (attributes.ceil_mode) opts.ceilMode = true;
  if (attributes.count_include_pad) opts.countIncludePad = true;
  return opts;
}

describe("pool2dOutputShape", () => {
  it("follows the ONNX shape rules", () => {
    for (const cs of CASES) {
      const g = refGeometry(shapeOf(cs, 3), cs.p);
      expect(pool2dOutputShape(shapeOf(cs, 3), cs.p), cs.name).toEqual([g.n, g.oh, g.ow, 3]);
    }
    // Hand-worked: ONNX maxpool_2d_ceil (4x4, k3 s2, ceil) gives 2x2; floor gives 1x1.
    expect(pool2dOutputShape([1, 4, 4, 1], { kernel: 3, strides: 2, ceilMode: true })).toEqual([1, 2, 2, 1]);
    expect(pool2dOutputShape([1, 4, 4, 1], { kernel: 3, strides: 2 })).toEqual([1, 1, 1, 1]);
    // Ceil mode drops a window that would start in the bottom padding: (4+1-2)/2 -> ceil 2, +1 = 3, dropped to 2.
    expect(pool2dOutputShape([1, 4, 4, 1], { kernel: 2, strides: 2, pads: [0, 0, 1, 1], ceilMode: true })).toEqual([1, 2, 2, 1]);
    // SAME: ceil(in / stride) whatever the kernel; ceil mode does not change SAME or VALID.
    expect(pool2dOutputShape([1, 7, 5, 2], { kernel: 3, strides: 2, autoPad: "SAME_UPPER", ceilMode: true })).toEqual([1, 4, 3, 2]);
    expect(pool2dOutputShape([1, 7, 5, 2], { kernel: 3, strides: 2, autoPad: "VALID", ceilMode: true })).toEqual([1, 3, 2, 2]);
  });
});

describe.each(BUILDS_UNDER_TEST)("pooling, %s build", (build) => {
  describe.each(CASES)("$name", (cs) => {
    it.each(CHANNELS)("max pooling forward and backward match the reference, C=%i", async (c) => {
      const e = await engineFor(build);
      e.tidy(() => {
        const shape = shapeOf(cs, c);
        const g = refGeometry(shape, cs.p);
        const xv = uniform(
          shape.reduce((a, b) => a * b),
          1000 + c,
          -3,
          1,
        ); // mostly negative: padding must not win
        const x = e.tensor(shape, xv);
        const { y, argmax } = maxPool2d(x, options(cs.p));
        const ref = refMaxPool(xv, g);
        expect(y.shape).toEqual([g.n, g.oh, g.ow, c]);
        expectClose(y.data, ref.y, { atol: 0, rtol: 0, label: "y" });
        expect(Array.from(argmax.ints)).toEqual(Array.from(ref.argmax));
        const dyv = uniform(y.size, 2000 + c);
        const dx = e.tensor(shape, new Float32Array(x.size).fill(0.5)); // accumulates onto 0.5
        expect(maxPool2dBackward(e.tensor(y.shape, dyv), argmax, shape, dx)).toBe(dx);
        expectClose(
          dx.data,
          refMaxPoolBackward(dyv, ref.argmax, x.size).map((v) => v + 0.5),
          { atol: 1e-6, label: "dx" },
        );
      });
    });

    it.each(CHANNELS)("average pooling forward and backward match the reference, C=%i", async (c) => {
      const e = await engineFor(build);
      e.tidy(() => {
        const shape = shapeOf(cs, c);
        const g = refGeometry(shape, cs.p);
        const xv = uniform(
          shape.reduce((a, b) => a * b),
          3000 + c,
        );
        const x = e.tensor(shape, xv);
        for (const includePad of [false, true]) {
          const label = `countIncludePad ${includePad}`;
          const y = avgPool2d(x, options(cs.p, { countIncludePad: includePad }));
          expectClose(y.data, refAvgPool(xv, g, includePad), { atol: 1e-6, rtol: 1e-5, label: `${label} y` });
          const dyv = uniform(y.size, 4000 + c);
          const dx = e.tensor(shape, new Float32Array(x.size).fill(-0.25));
          avgPool2dBackward(e.tensor(y.shape, dyv), shape, options(cs.p, { countIncludePad: includePad }), dx);
          const expected = refAvgPoolBackward(dyv, g, includePad).map((v) => v - 0.25);
          expectClose(dx.data, expected, { atol: 1e-6, rtol: 1e-5, label: `${label} dx` });
        }
      });
    });
  });

  it.each([
    { name: "k3 s2 asym pads ceil", c: 5 },
    { name: "k3 s2 dil2 pads", c: 3 },
    { name: "k[3,2] s[2,1] SAME_UPPER", c: 9 },
  ])("max pooling backward matches finite differences ($name, C=$c)", async ({ name, c }) => {
    const e = await engineFor(build);
    const cs = CASES.find((k) => k.name === name)!;
    e.tidy(() => {
      const shape = shapeOf(cs, c);
      const x = e.tensor(
        shape,
        distinct(
          shape.reduce((a, b) => a * b),
          5,
        ),
      );
      const { y, argmax } = maxPool2d(x, options(cs.p));
      const w = uniform(y.size, 6);
      const dx = maxPool2dBackward(e.tensor(y.shape, w), argmax, shape);
      const loss = () => e.tidy(() => dot(maxPool2d(x, options(cs.p)).y.data, w));
      expectGradientMatches(x, dx.data, loss, { samples: 40, label: "maxPool2d dx" });
    });
  });

  it.each([
    { name: "k3 s2 pads 1 ceil beyond", c: 5, includePad: true },
    { name: "k3 s2 asym pads ceil", c: 4, includePad: false },
    { name: "k3 s2 dil2 pads", c: 3, includePad: true },
    { name: "k3 s2 SAME_LOWER", c: 9, includePad: false },
  ])("average pooling backward matches finite differences ($name, C=$c, countIncludePad $includePad)", async ({ name, c, includePad }) => {
    const e = await engineFor(build);
    const cs = CASES.find((k) => k.name === name)!;
    e.tidy(() => {
      const shape = shapeOf(cs, c);
      const opts = options(cs.p, { countIncludePad: includePad });
      const x = e.tensor(
        shape,
        uniform(
          shape.reduce((a, b) => a * b),
          7,
        ),
      );
      const y = avgPool2d(x, opts);
      const w = uniform(y.size, 8);
      const dx = avgPool2dBackward(e.tensor(y.shape, w), shape, opts);
      const loss = () => e.tidy(() => dot(avgPool2d(x, opts).data, w));
      expectGradientMatches(x, dx.data, loss, { samples: 40, label: "avgPool2d dx" });
    });
  });

  it.each(ONNX_CASES)("matches the ONNX conformance case %s", async (name) => {
    const e = await engineFor(build);
    const dir = `${ONNX_ROOT}/${name}`;
    const node = readOnnxNode(readFileSync(`${dir}/model.onnx`));
    const input = readOnnxTensor(readFileSync(`${dir}/test_data_set_0/input_0.pb`));
    const output = readOnnxTensor(readFileSync(`${dir}/test_data_set_0/output_0.pb`));
    expect(input.dims.length, "2-D pooling cases only").toBe(4);
    const [n, c, h, w] = input.dims as [number, number, number, number];
    e.tidy(() => {
      const x = e.tensor([n, h, w, c], nchwToNhwc(input.data, input.dims));
      let y;
      switch (node.opType) {
        case "MaxPool":
          y = maxPool2d(x, onnxOptions(node.attributes)).y;
          break;
        case "AveragePool":
          y = avgPool2d(x, onnxOptions(node.attributes));
          break;
        case "GlobalMaxPool":
          y = globalMaxPool(x).y;
          break;
        case "GlobalAveragePool":
          y = globalAvgPool(x);
          break;
        default:
          throw new Error(`unexpected op ${node.opType}`);
      }
      const [, oc, oh, ow] = output.dims as [number, number, number, number];
      expect(y.shape).toEqual([n, oh, ow, oc]);
      expectClose(y.data, nchwToNhwc(output.data, output.dims), { rtol: 1e-5, atol: 1e-6, label: name });
    });
  });

  it("max pooling ties go to the first maximum in window scan order; -inf inputs still yield an in-input index", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const shape = [2, 5, 5, 6];
      const p: RefPoolParams = { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] };
      const r = rng(9);
      const xv = Float32Array.from({ length: 300 }, () => Math.floor(r() * 3)); // many ties
      for (let i = 0; i < 300; i += 7) xv[i] = -Infinity;
      const ref = refMaxPool(xv, refGeometry(shape, p));
      const { y, argmax } = maxPool2d(e.tensor(shape, xv), p);
      expect(Array.from(y.data)).toEqual(Array.from(ref.y));
      expect(Array.from(argmax.ints)).toEqual(Array.from(ref.argmax));
      const all = maxPool2d(e.tensor(shape, new Float32Array(300).fill(-Infinity)), p);
      expect(Array.from(all.argmax.ints)).toEqual(Array.from(refMaxPool(new Float32Array(300).fill(-Infinity), refGeometry(shape, p)).argmax));
    });
  });

  // C % 8 == 0 runs neighbouring output pixels with the same taps two at a time (the edges alone)
  it.each([
    ["3x3 stride 1 pad 1", { kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] }],
    ["3x3 stride 2, pads [0,0,1,1]", { kernel: [3, 3], strides: [2, 2], pads: [0, 0, 1, 1] }],
    ["2x3 strides [1,2], dilation [1,2]", { kernel: [2, 3], strides: [1, 2], pads: [0, 2, 1, 1], dilations: [1, 2] }],
  ] as [string, RefPoolParams][])("max pooling with C a multiple of 8: ties go first, a NaN wins (%s)", async (_label, p) => {
    const e = await engineFor(build);
    e.tidy(() => {
      for (const c of [8, 16]) {
        const shape = [2, 6, 11, c];
        const r = rng(c);
        const xv = Float32Array.from({ length: 2 * 6 * 11 * c }, () => Math.floor(r() * 3)); // many ties
        for (let i = 0; i < xv.length; i += 13) xv[i] = -Infinity;
        const g = refGeometry(shape, p);
        const ref = refMaxPool(xv, g);
        const { y, argmax } = maxPool2d(e.tensor(shape, xv), p);
        expect(Array.from(y.data)).toEqual(Array.from(ref.y));
        expect(Array.from(argmax.ints)).toEqual(Array.from(ref.argmax));
        // a NaN in each of three channels (lanes of both vectors, both pixels of pairs): every window
        // holding one gives NaN at its index (the reference, with +inf there, finds those windows);
        // even columns, which every case's windows read
        const withNaN = xv.slice(),
          withInf = xv.slice();
        for (const [row, col, ch] of [
          [3, 4, 2],
          [1, 6, 5],
          [4, 8, 1],
          [0, 2, 7],
        ]) {
          withNaN[(row! * 11 + col!) * c + ch!] = NaN;
          withInf[(row! * 11 + col!) * c + ch!] = Infinity;
        }
        const refInf = refMaxPool(withInf, g);
        const got = maxPool2d(e.tensor(shape, withNaN), p);
        expect(Array.from(got.argmax.ints)).toEqual(Array.from(refInf.argmax));
        const expected = Array.from(refInf.y, (v) => (v === Infinity ? NaN : v));
        expect(expected.filter(Number.isNaN).length).toBeGreaterThan(0);
        expect(Array.from(got.y.data)).toEqual(expected);
      }
    });
  });

  it("average pooling with countIncludePad gives 0 for a window entirely in padding", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const shape = [1, 3, 3, 5];
      const p: RefPoolParams = { kernel: [2, 2], pads: [2, 0, 0, 0], countIncludePad: true };
      const xv = uniform(45, 10);
      const y = avgPool2d(e.tensor(shape, xv), p);
      expectClose(y.data, refAvgPool(xv, refGeometry(shape, p), true), { atol: 1e-6 });
      expect(Array.from(y.data.subarray(0, 10))).toEqual(new Array(10).fill(0));
    });
  });

  it.each(CHANNELS)("global average and max pooling forward and backward, C=%i", async (c) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const shape = [2, 5, 3, c];
      const xv = distinct(30 * c, c);
      const x = e.tensor(shape, xv);
      const ref = refGlobalPool(xv, shape);
      const avg = globalAvgPool(x);
      expect(avg.shape).toEqual([2, 1, 1, c]);
      expectClose(avg.data, ref.mean, { atol: 1e-6, rtol: 1e-5, label: "mean" });
      const { y, argmax } = globalMaxPool(x);
      expect(y.shape).toEqual([2, 1, 1, c]);
      expectClose(y.data, ref.max, { atol: 0, rtol: 0, label: "max" });
      expect(Array.from(argmax.ints)).toEqual(Array.from(ref.argmax));

      const w = uniform(2 * c, 11 + c);
      const dyAvg = globalAvgPoolBackward(e.tensor([2, 1, 1, c], w), shape);
      const dyMax = globalMaxPoolBackward(e.tensor([2, 1, 1, c], w), argmax, shape);
      const expectedAvg = new Float64Array(x.size).map((_, i) => w[Math.floor(i / (15 * c)) * c + (i % c)]! / 15);
      expectClose(dyAvg.data, expectedAvg, { atol: 1e-7, label: "global avg dx" });
      expectClose(dyMax.data, refMaxPoolBackward(w, ref.argmax, x.size), { atol: 0, rtol: 0, label: "global max dx" });
      expectGradientMatches(x, dyAvg.data, () => e.tidy(() => dot(globalAvgPool(x).data, w)), { label: "globalAvgPool dx" });
      expectGradientMatches(x, dyMax.data, () => e.tidy(() => dot(globalMaxPool(x).y.data, w)), { label: "globalMaxPool dx" });
    });
  });

  it("writes into given outputs", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.tensor([1, 4, 4, 4], uniform(64, 12));
      const y = e.zeros([1, 2, 2, 4]),
        argmax = e.ints([1, 2, 2, 4]);
      const r = maxPool2d(x, { kernel: 2, strides: 2 }, { y, argmax });
      expect(r.y).toBe(y);
      expect(r.argmax).toBe(argmax);
      const ya = e.zeros([1, 2, 2, 4]);
      expect(avgPool2d(x, { kernel: 2, strides: 2 }, ya)).toBe(ya);
      const g = e.zeros([1, 1, 1, 4]);
      expect(globalAvgPool(x, g)).toBe(g);
    });
  });

  it("rejects bad arguments with messages naming op, argument and shapes", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.zeros([1, 3, 3, 2]);
      const bad = (fn: () => unknown, message: string) => {
        expect(fn).toThrow(SimdnetError);
        expect(fn).toThrow(message);
      };
      bad(
        () => maxPool2d(x, { kernel: 5 }),
        "maxPool2d: the height window (kernel 5, dilation 1: extent 5) is larger than the padded input (3 + pads 0+0 = 3) for x [1,3,3,2]",
      );
      bad(
        () => avgPool2d(x, { kernel: 2, dilations: [1, 3] }),
        "avgPool2d: the width window (kernel 2, dilation 3: extent 4) is larger than the padded input (3 + pads 0+0 = 3)",
      );
      bad(() => maxPool2d(x, { kernel: 2, strides: 0 }), "maxPool2d: strides must be an integer >= 1, got 0");
      bad(() => maxPool2d(x, { kernel: 2, strides: [1, -2] }), "maxPool2d: strides must be an integer >= 1, got -2");
      bad(() => maxPool2d(x, { kernel: 2.5 }), "maxPool2d: kernel must be an integer >= 1, got 2.5");
      bad(() => maxPool2d(x, { kernel: [2, 2, 2] as unknown as [number, number] }), "maxPool2d: kernel must be a number or an array of 2 numbers");
      bad(() => maxPool2d(x, { kernel: 2, pads: [0, Number.NaN, 0, 0] }), "maxPool2d: pads must be an integer >= 0, got NaN");
      bad(() => maxPool2d(x, { kernel: 2, pads: -1 }), "maxPool2d: pads must be an integer >= 0, got -1");
      bad(() => maxPool2d(x, { kernel: 2, dilations: Infinity }), "maxPool2d: dilations must be an integer >= 1, got Infinity");
      bad(() => maxPool2d(x, { kernel: 2, pads: 1, autoPad: "SAME_UPPER" }), "maxPool2d: pads [1,1,1,1] cannot be combined with autoPad SAME_UPPER");
      bad(
        () => maxPool2d(x, { kernel: 2, autoPad: "SAME" as "SAME_UPPER" }),
        "maxPool2d: autoPad must be one of NOTSET, SAME_UPPER, SAME_LOWER, VALID, got SAME",
      );
      bad(() => maxPool2d(x, { kernel: 2, stride: 2 } as unknown as Pool2dOptions), "maxPool2d: unknown option 'stride'");
      bad(() => maxPool2d(x, {} as Pool2dOptions), "maxPool2d: options.kernel is required");
      bad(() => avgPool2d(x, { kernel: 2, ceilMode: 1 as unknown as boolean }), "avgPool2d: ceilMode must be a boolean, got 1");
      bad(() => maxPool2d(e.zeros([3, 3, 2]), { kernel: 2 }), "maxPool2d: x must have rank 4, got shape [3,3,2]");
      bad(
        () => maxPool2d(x, { kernel: 2, pads: [2, 0, 0, 0] }),
        "maxPool2d: the window at output row 0 lies entirely in padding (x [1,3,3,2], kernel [2,2], dilations [1,1], pads [2,0,0,0])",
      );
      bad(() => avgPool2d(x, { kernel: 2, pads: [0, 2, 0, 0] }), "avgPool2d: the window at output column 0 lies entirely in padding");
      bad(() => maxPool2d(x, { kernel: 2 }, { y: e.zeros([1, 3, 3, 2]) }), "maxPool2d: out must have shape [1,2,2,2], got [1,3,3,2]");
      bad(() => maxPool2d(x, { kernel: 2 }, { argmax: e.zeros([1, 2, 2, 2]) }), "maxPool2d: out must be i32, got f32");
      bad(() => avgPool2d(x, { kernel: 1 }, x), "avgPool2d: out cannot be x");

      const dy = e.zeros([1, 2, 2, 2]);
      bad(() => avgPool2dBackward(dy, [1, 3, 3, 2], { kernel: 2, strides: 2 }), "avgPool2dBackward: dy must have shape [1,1,1,2], got [1,2,2,2]");
      bad(() => avgPool2dBackward(dy, [1, 3, 3], { kernel: 2 }), "avgPool2dBackward: xShape must be an array of 4 integers >= 1, got [1,3,3]");
      bad(() => avgPool2dBackward(dy, [1, 3, 3, 2], { kernel: 2 }, e.zeros([1, 3, 3, 1])), "avgPool2dBackward: dx must have shape [1,3,3,2], got [1,3,3,1]");
      bad(() => maxPool2dBackward(dy, e.zeros([1, 2, 2, 2]), [1, 3, 3, 2]), "maxPool2dBackward: argmax must be i32, got f32");
      bad(() => maxPool2dBackward(dy, e.ints([1, 2, 2, 1]), [1, 3, 3, 2]), "maxPool2dBackward: argmax must have shape [1,2,2,2], got [1,2,2,1]");
      bad(
        () => maxPool2dBackward(dy, e.ints([1, 2, 2, 2]), [1, 3, 3, 3]),
        "maxPool2dBackward: dy [1,2,2,2] and xShape [1,3,3,3] must agree on batch and channels",
      );
      bad(() => maxPool2dBackward(dy, e.ints([1, 2, 2, 2]), [1, 3, 2.5, 2]), "maxPool2dBackward: xShape must be an array of 4 integers >= 1, got [1,3,2.5,2]");
      bad(() => globalMaxPoolBackward(dy, e.ints([1, 2, 2, 2]), [1, 3, 3, 2]), "globalMaxPoolBackward: dy must have shape [N,1,1,C], got [1,2,2,2]");
      bad(() => globalAvgPoolBackward(dy, [1, 3, 3, 2]), "globalAvgPoolBackward: dy must have shape [1,1,1,2], got [1,2,2,2]");
      bad(() => avgPool2dBackward(dy, [1, 2, 2, 2], { kernel: 1 }, dy), "avgPool2dBackward: dx cannot be dy");
      bad(() => maxPool2dBackward(dy, e.ints([1, 2, 2, 2]), [1, 2, 2, 2], dy), "maxPool2dBackward: dx cannot be dy");
      bad(() => globalAvgPool(e.zeros([2, 3])), "globalAvgPool: x must have rank 4, got shape [2,3]");

      // An out-of-range arg-max index is reported and dx is left untouched.
      for (const badIndex of [18, -1]) {
        const argmax = e.ints([1, 2, 2, 2], [0, 1, 2, 3, 4, 5, badIndex, 7]);
        const dx = e.tensor([1, 3, 3, 2], new Float32Array(18).fill(1));
        bad(
          () => maxPool2dBackward(e.tensor([1, 2, 2, 2], new Float32Array(8).fill(1)), argmax, [1, 3, 3, 2], dx),
          `maxPool2dBackward: argmax[6] = ${badIndex} is not an index into x [1,3,3,2] (size 18); dx is unchanged`,
        );
        expect(Array.from(dx.data)).toEqual(new Array(18).fill(1));
      }
    });
  });
});
