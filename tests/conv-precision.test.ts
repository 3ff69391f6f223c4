// Accumulation error of convolutions with long reductions, against float64.
// Forward: every algorithm that supports a shape (forced by name), conv2d's choice and the
// InferenceSession's, next to onnxruntime-node's error on the same data, for K = KH*KW*C/G from
// 392 to 9,216 products. The kernels sum an output's products in blocks (SUM_BLOCK and SUM_CHUNK in
// assembly/conv2d.ts, SUM_KC in assembly/gemm.ts, ...), each from zero, and add the block sums:
// one float32 chain over all K was 1.7x to 5.7x onnxruntime's error (issue 18, item 9).
// Filter gradient: dw sums N*OH*OW products; its error is held against a plain float32 loop's
// (one serial chain per element, what the kernels did before) on shapes with long sums.
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import * as nn from "../src/index.js";
import { BUILDS_UNDER_TEST, engineFor, uniform } from "./harness.js";
import { floatTensor, int, ints, node, onnxBytes } from "./onnx-build.js";

type Pads = [number, number, number, number];
interface Case {
  x: [number, number, number, number];
  w: [number, number, number, number];
  pads: Pads;
  strides?: number;
  groups?: number;
}

/** Shapes that reach every forward algorithm with long sums (K = KH * KW * C / groups). */
const FORWARD: Case[] = [
  { x: [1, 20, 20, 33], w: [7, 3, 33, 16], pads: [3, 1, 3, 1] }, // K 693: blocked, direct
  { x: [2, 14, 14, 64], w: [3, 3, 64, 64], pads: [1, 1, 1, 1] }, // K 576: Winograd
  { x: [1, 28, 28, 256], w: [3, 3, 256, 32], pads: [1, 1, 1, 1] }, // K 2,304
  { x: [1, 12, 12, 512], w: [1, 1, 512, 24], pads: [0, 0, 0, 0] }, // K 512: gemm_tap
  { x: [1, 10, 10, 1024], w: [3, 3, 1024, 8], pads: [1, 1, 1, 1] }, // K 9,216
  { x: [1, 16, 16, 400], w: [3, 3, 400, 3], pads: [1, 1, 1, 1] }, // K 3,600, 3 outputs: small
  { x: [2, 7, 7, 2048], w: [1, 1, 2048, 16], pads: [0, 0, 0, 0] }, // K 2,048: 1x1 over a ResNet-50 width
  { x: [4, 9, 9, 256], w: [3, 3, 256, 40], pads: [1, 1, 1, 1], strides: 2 }, // K 2,304: im2col (5 wide)
  { x: [1, 14, 14, 96], w: [5, 5, 48, 32], pads: [2, 2, 2, 2], groups: 2 }, // K 1,200 a group
  { x: [2, 12, 12, 8], w: [7, 7, 8, 12], pads: [3, 3, 3, 3] }, // K 392, 8 channels
];

/** NHWC conv in float64: y [N, OH, OW, OC]; w [KH, KW, C/G, OC]. */
function reference(x: Float32Array, c: Case, w: Float32Array): { y: Float64Array; oh: number; ow: number } {
  const [n, h, wd, ch] = c.x,
    [kh, kw, cg, oc] = c.w,
    s = c.strides ?? 1,
    groups = c.groups ?? 1,
    ocg = oc / groups;
  const oh = Math.floor((h + c.pads[0] + c.pads[2] - kh) / s) + 1,
    ow = Math.floor((wd + c.pads[1] + c.pads[3] - kw) / s) + 1;
  const y = new Float64Array(n * oh * ow * oc);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let o = 0; o < oc; o++) {
          const g = Math.floor(o / ocg);
          let sum = 0;
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++) {
              const iy = oy * s + ky - c.pads[0],
                ix = ox * s + kx - c.pads[1];
              if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
              const xo = ((b * h + iy) * wd + ix) * ch + g * cg,
                wo = (ky * kw + kx) * cg * oc + o;
              for (let ci = 0; ci < cg; ci++) sum += x[xo + ci]! * w[wo + ci * oc]!;
            }
          y[((b * oh + oy) * ow + ox) * oc + o] = sum;
        }
  return { y, oh, ow };
}

const meanAbsError = (y: ArrayLike<number>, ref: Float64Array) => {
  let s = 0;
  for (let i = 0; i < ref.length; i++) s += Math.abs(y[i]! - ref[i]!);
  return s / ref.length;
};

/** NCHW <-> NHWC of [n, c, h, w]. */
function toNchw(a: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let b = 0; b < n; b++) for (let i = 0; i < h * w; i++) for (let ch = 0; ch < c; ch++) out[(b * c + ch) * h * w + i] = a[(b * h * w + i) * c + ch]!;
  return out;
}
function toNhwc(a: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let b = 0; b < n; b++) for (let i = 0; i < h * w; i++) for (let ch = 0; ch < c; ch++) out[(b * h * w + i) * c + ch] = a[(b * c + ch) * h * w + i]!;
  return out;
}

const label = (c: Case) =>
  `x ${JSON.stringify(c.x)}, w ${JSON.stringify(c.w)}${c.strides ? `, strides ${c.strides}` : ""}${c.groups ? `, groups ${c.groups}` : ""} (K = ${c.w[0] * c.w[1] * c.w[2]})`;

describe("convolution accumulation error on long reductions, against onnxruntime's", () => {
  for (const c of FORWARD) {
    const [n, h, wd, ch] = c.x,
      [kh, kw, cg, oc] = c.w;
    const options = { pads: c.pads, strides: c.strides ?? 1, groups: c.groups ?? 1 };
    it(label(c), async () => {
      const x = uniform(n * h * wd * ch, 1),
        w = uniform(kh * kw * cg * oc, 2);
      const { y: ref, oh, ow } = reference(x, c, w);
      // onnxruntime-node, NCHW, weights [OC, C/G, KH, KW]
      const wn = new Float32Array(w.length);
      for (let o = 0; o < oc; o++)
        for (let ci = 0; ci < cg; ci++) for (let k = 0; k < kh * kw; k++) wn[(o * cg + ci) * kh * kw + k] = w[(k * cg + ci) * oc + o]!;
      const attrs = [ints("pads", c.pads), ints("strides", [options.strides, options.strides]), int("group", options.groups)];
      const bytes = onnxBytes([node("Conv", ["x", "w"], "y", attrs)], [floatTensor("w", [oc, cg, kh, kw], wn)], [n, ch, h, wd], "y");
      const ortSession = await ort.InferenceSession.create(bytes);
      const ortY = (await ortSession.run({ x: new ort.Tensor("float32", toNchw(x, n, h, wd, ch), [n, ch, h, wd]) })).y!.data as Float32Array;
      const ortError = meanAbsError(toNhwc(ortY, n, oh, ow, oc), ref);
      expect(ortError).toBeGreaterThan(0);
      for (const build of BUILDS_UNDER_TEST) {
        const e = await engineFor(build);
        const paths: [string, ArrayLike<number>][] = [];
        for (const a of nn.conv2dAlgorithms(e, c.x, c.w, options)) {
          paths.push([a.name, e.tidy(() => nn.conv2d(e.tensor(c.x, x), e.tensor(c.w, w), null, { ...options, algorithm: a.name }).data.slice())]);
        }
        paths.push(["conv2d", e.tidy(() => nn.conv2d(e.tensor(c.x, x), e.tensor(c.w, w), null, options).data.slice())]);
        const session = nn.InferenceSession.fromBytes(e, bytes);
        const planned = session.runSync({ x: { dims: [n, ch, h, wd], data: toNchw(x, n, h, wd, ch) } }).y!.data as Float32Array;
        await session.release();
        paths.push(["InferenceSession", toNhwc(planned, n, oh, ow, oc)]);
        for (const [path, y] of paths) {
          const error = meanAbsError(y, ref);
          // measured after blocking: 0.5x to 1.3x against onnxruntime's AVX2 kernels, up to 1.51x
          // against its AVX-512 ones (Zen 5), whose own error is lower; with one float32 chain
          // over K: up to 5.7x
          expect(error / ortError, `${build} ${path}: mean |error| ${error.toExponential(2)}, onnxruntime ${ortError.toExponential(2)}`).toBeLessThan(2);
        }
      }
    });
  }
});

/** Shapes whose filter gradient sums many pixels (N * OH * OW), each reaching other algorithms. */
const FILTER: Case[] = [
  { x: [4, 32, 32, 16], w: [3, 3, 16, 16], pads: [1, 1, 1, 1] }, // 4,096 pixels: direct, small
  { x: [2, 64, 64, 3], w: [3, 3, 3, 8], pads: [1, 1, 1, 1] }, // 8,192 pixels, 3 channels: small, direct_few
  { x: [8, 24, 24, 32], w: [1, 1, 32, 32], pads: [0, 0, 0, 0] }, // 4,608 pixels: gemm_tap
  { x: [4, 30, 30, 16], w: [3, 3, 16, 64], pads: [1, 1, 1, 1], strides: 2 }, // 900 pixels, strided: im2col
  { x: [2, 40, 40, 32], w: [3, 3, 32, 32], pads: [1, 1, 1, 1] }, // 3,200 pixels: Winograd
  { x: [4, 40, 40, 8], w: [3, 3, 1, 8], pads: [1, 1, 1, 1], groups: 8 }, // 6,400 pixels: depthwise 3x3
  { x: [4, 40, 40, 8], w: [5, 5, 1, 8], pads: [2, 2, 2, 2], groups: 8 }, // depthwise, any kernel
];

/** dw [KH, KW, C/G, OC] in float64, and as a plain float32 loop sums it (one chain per element). */
function filterReferences(c: Case, x: Float32Array, dy: Float32Array, oh: number, ow: number): { exact: Float64Array; serial: Float32Array } {
  const [n, h, wd, ch] = c.x,
    [kh, kw, cg, oc] = c.w,
    s = c.strides ?? 1,
    ocg = oc / (c.groups ?? 1);
  const exact = new Float64Array(kh * kw * cg * oc),
    serial = new Float32Array(exact.length);
  const f = Math.fround;
  for (let ky = 0; ky < kh; ky++)
    for (let kx = 0; kx < kw; kx++)
      for (let ci = 0; ci < cg; ci++)
        for (let o = 0; o < oc; o++) {
          const xc = Math.floor(o / ocg) * cg + ci; // x's channel in o's group
          let e64 = 0,
            e32 = 0;
          for (let b = 0; b < n; b++)
            for (let oy = 0; oy < oh; oy++) {
              const iy = oy * s + ky - c.pads[0];
              if (iy < 0 || iy >= h) continue;
              for (let ox = 0; ox < ow; ox++) {
                const ix = ox * s + kx - c.pads[1];
                if (ix < 0 || ix >= wd) continue;
                const p = x[((b * h + iy) * wd + ix) * ch + xc]! * dy[((b * oh + oy) * ow + ox) * oc + o]!;
                e64 += p;
                e32 = f(e32 + f(p));
              }
            }
          const i = ((ky * kw + kx) * cg + ci) * oc + o;
          exact[i] = e64;
          serial[i] = e32;
        }
  return { exact, serial };
}

describe("filter gradient accumulation error over many pixels, against one float32 chain's", () => {
  for (const c of FILTER) {
    const [n, h, wd, ch] = c.x,
      oc = c.w[3];
    const options = { pads: c.pads, strides: c.strides ?? 1, groups: c.groups ?? 1 };
    const [, oh = 0, ow = 0] = nn.conv2dOutputShape(c.x, c.w, options);
    it(`${label(c)}, sums over ${n} x ${oh} x ${ow} pixels`, async () => {
      const x = uniform(n * h * wd * ch, 3),
        dy = uniform(n * oh * ow * oc, 4);
      const { exact, serial } = filterReferences(c, x, dy, oh, ow);
      const serialError = meanAbsError(serial, exact);
      for (const build of BUILDS_UNDER_TEST) {
        const e = await engineFor(build);
        for (const a of nn.conv2dAlgorithms(e, c.x, c.w, options, "backward_filter")) {
          const dw = e.tidy(() =>
            nn.conv2dBackwardFilter(e.tensor([n, oh, ow, oc], dy), e.tensor(c.x, x), c.w, { ...options, algorithm: a.name }).data.slice(),
          );
          const error = meanAbsError(dw, exact);
          // measured after blocking: 0.12x to 0.45x of one chain's error
          expect(
            error / serialError,
            `${build} ${a.name}: mean |error| ${error.toExponential(2)}, one float32 chain ${serialError.toExponential(2)}`,
          ).toBeLessThan(0.5);
        }
      }
    });
  }
});
