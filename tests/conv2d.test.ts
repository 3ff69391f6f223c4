import { describe, expect, it } from "vitest";
import {
  conv2d,
  conv2dBackward,
  conv2dBackwardFilter,
  conv2dBackwardInput,
  conv2dWorkspaceBytes,
  conv2dOutputShape,
  type Conv2dOptions,
  convTranspose2d,
  convTranspose2dBackward,
  convTranspose2dOutputShape,
  type ConvTranspose2dOptions,
  type Engine,
  init,
  OutOfMemoryError,
  SimdnetError,
  type Tensor,
} from "../src/index.js";
import {
  chooseConvAlgorithm,
  CONV_ALGORITHMS,
  CONV_PASSES,
  convAlgorithm,
  convGeometry,
  type ConvTarget,
  supportingConvAlgorithms,
} from "../src/ops/conv2d_algorithms.js";
import { IM2COL } from "../src/ops/conv2d_im2col.js";
import { ALGORITHMS_RUN, expectConvGradientsMatchFiniteDifferences, expectEveryAlgorithmMatchesReference } from "./conv-checks.js";
import { BUILDS_UNDER_TEST, dot, engineFor, expectClose, expectGradientMatches, uniform } from "./harness.js";
import { conv2dBackwardRef, conv2dRef, convTranspose2dRef, convTransposeOutputSize, type RefParams, samePads, type Shape4 } from "./reference/conv2d.js";

const TOL = { rtol: 1e-4, atol: 1e-4 };
const size = (s: readonly number[]) => s.reduce((a, d) => a * d, 1);

/** Channel counts around the 4-lane vector and the 8-channel register tile. */
const CHANNELS = [1, 3, 4, 5, 8, 9, 16, 17];

interface ConvCase {
  name: string;
  x: Shape4;
  w: Shape4;
  options: Conv2dOptions;
  ref: RefParams;
}

const p = (strides: [number, number], pads: [number, number, number, number], dilations: [number, number] = [1, 1], groups = 1): RefParams => ({
  strides,
  pads,
  dilations,
  groups,
});

const GEOMETRY_CASES: ConvCase[] = [
  { name: "3x3 pad 1, wide rows (interior tiles)", x: [2, 5, 13, 5], w: [3, 3, 5, 9], options: { pads: 1 }, ref: p([1, 1], [1, 1, 1, 1]) },
  { name: "3x3 no pad", x: [2, 7, 9, 4], w: [3, 3, 4, 8], options: {}, ref: p([1, 1], [0, 0, 0, 0]) },
  { name: "stride 2 pad 1", x: [2, 9, 11, 3], w: [3, 3, 3, 17], options: { strides: 2, pads: 1 }, ref: p([2, 2], [1, 1, 1, 1]) },
  { name: "strides [1,2], asymmetric pads", x: [2, 7, 15, 9], w: [3, 3, 9, 5], options: { strides: [1, 2], pads: [0, 2, 1, 0] }, ref: p([1, 2], [0, 2, 1, 0]) },
  { name: "5x3 kernel, pads [2,1,2,1]", x: [1, 9, 12, 8], w: [5, 3, 8, 16], options: { pads: [2, 1, 2, 1] }, ref: p([1, 1], [2, 1, 2, 1]) },
  { name: "dilation 2 pad 2", x: [2, 9, 13, 4], w: [3, 3, 4, 12], options: { dilations: 2, pads: 2 }, ref: p([1, 1], [2, 2, 2, 2], [2, 2]) },
  {
    name: "dilation [2,1] stride 2",
    x: [2, 11, 10, 3],
    w: [3, 2, 3, 8],
    options: { dilations: [2, 1], strides: 2, pads: [1, 0, 0, 1] },
    ref: p([2, 2], [1, 0, 0, 1], [2, 1]),
  },
  { name: "groups 2", x: [2, 6, 9, 8], w: [3, 3, 4, 10], options: { groups: 2, pads: 1 }, ref: p([1, 1], [1, 1, 1, 1], [1, 1], 2) },
  {
    name: "groups 2, 8 channels each, stride 2",
    x: [2, 7, 13, 16],
    w: [3, 3, 8, 16],
    options: { groups: 2, pads: 1, strides: 2 },
    ref: p([2, 2], [1, 1, 1, 1], [1, 1], 2),
  },
  // 2-4 groups of 32+ channels: one one-group conv per group on copies of its slices when dispatched by shape
  {
    name: "groups 2, 32 channels each (group slices)",
    x: [2, 6, 7, 64],
    w: [3, 3, 32, 64],
    options: { groups: 2, pads: 1 },
    ref: p([1, 1], [1, 1, 1, 1], [1, 1], 2),
  },
  {
    name: "groups 2, 5x5 pads [2,1,2,0], 36 outputs each (group slices)",
    x: [1, 9, 8, 64],
    w: [5, 5, 32, 72],
    options: { groups: 2, pads: [2, 1, 2, 0] },
    ref: p([1, 1], [2, 1, 2, 0], [1, 1], 2),
  },
  {
    name: "groups 3 stride 2 (group slices)",
    x: [2, 9, 9, 96],
    w: [3, 3, 32, 96],
    options: { groups: 3, strides: 2, pads: 1 },
    ref: p([2, 2], [1, 1, 1, 1], [1, 1], 3),
  },
  { name: "groups 3, 3 channels each", x: [1, 5, 6, 9], w: [2, 2, 3, 12], options: { groups: 3 }, ref: p([1, 1], [0, 0, 0, 0], [1, 1], 3) },
  { name: "depthwise C=9", x: [2, 7, 9, 9], w: [3, 3, 1, 9], options: { groups: 9, pads: 1 }, ref: p([1, 1], [1, 1, 1, 1], [1, 1], 9) },
  {
    name: "depthwise C=17 stride 2 dilation 2",
    x: [2, 9, 10, 17],
    w: [3, 3, 1, 17],
    options: { groups: 17, pads: [2, 1, 1, 2], strides: 2, dilations: 2 },
    ref: p([2, 2], [2, 1, 1, 2], [2, 2], 17),
  },
  // depthwise 3x3 stride-1 rows with C % 4 == 0 run 4-pixel tiles where all taps are inside: below,
  // at and above the tile, tiles ending before the right edge or exactly at it
  {
    name: "depthwise 3x3 C=8: 4-pixel tiles, then single pixels",
    x: [2, 6, 13, 8],
    w: [3, 3, 1, 8],
    options: { groups: 8, pads: 1 },
    ref: p([1, 1], [1, 1, 1, 1], [1, 1], 8),
  },
  {
    name: "depthwise 3x3 C=12 no pad, stride [2,1]: two tiles exactly",
    x: [1, 7, 10, 12],
    w: [3, 3, 1, 12],
    options: { groups: 12, strides: [2, 1] },
    ref: p([2, 1], [0, 0, 0, 0], [1, 1], 12),
  },
  {
    name: "depthwise 3x3 C=4, pads [0,2,1,1]",
    x: [1, 5, 11, 4],
    w: [3, 3, 1, 4],
    options: { groups: 4, pads: [0, 2, 1, 1] },
    ref: p([1, 1], [0, 2, 1, 1], [1, 1], 4),
  },
  {
    name: "depthwise 3x3 C=4, 3 interior pixels (below the tile)",
    x: [1, 4, 5, 4],
    w: [3, 3, 1, 4],
    options: { groups: 4, pads: 1 },
    ref: p([1, 1], [1, 1, 1, 1], [1, 1], 4),
  },
  {
    name: "depthwise 3x3 C=16, 4 interior pixels (one tile)",
    x: [1, 3, 6, 16],
    w: [3, 3, 1, 16],
    options: { groups: 16, pads: 1 },
    ref: p([1, 1], [1, 1, 1, 1], [1, 1], 16),
  },
  // their dx is gathered in 4-pixel tiles where the tiles cover 3/4 of a row or more (else scattered):
  // tiles then edge pixels on both sides, asymmetric pads, no pad, and a row the tiles just miss
  {
    name: "depthwise 3x3 C=8 dx gathered, 19 wide",
    x: [2, 5, 19, 8],
    w: [3, 3, 1, 8],
    options: { groups: 8, pads: 1 },
    ref: p([1, 1], [1, 1, 1, 1], [1, 1], 8),
  },
  {
    name: "depthwise 3x3 C=12 dx gathered, pads [2,0,0,2]",
    x: [1, 6, 18, 12],
    w: [3, 3, 1, 12],
    options: { groups: 12, pads: [2, 0, 0, 2] },
    ref: p([1, 1], [2, 0, 0, 2], [1, 1], 12),
  },
  { name: "depthwise 3x3 C=4 dx gathered, no pad", x: [2, 4, 20, 4], w: [3, 3, 1, 4], options: { groups: 4 }, ref: p([1, 1], [0, 0, 0, 0], [1, 1], 4) },
  {
    name: "depthwise 3x3 C=4 dx gathered, 2 rows, pads [0,1,1,2]",
    x: [1, 2, 17, 4],
    w: [3, 3, 1, 4],
    options: { groups: 4, pads: [0, 1, 1, 2] },
    ref: p([1, 1], [0, 1, 1, 2], [1, 1], 4),
  },
  { name: "depthwise multiplier 2", x: [2, 5, 7, 5], w: [3, 3, 1, 10], options: { groups: 5, pads: 1 }, ref: p([1, 1], [1, 1, 1, 1], [1, 1], 5) },
  { name: "depthwise multiplier 8", x: [1, 5, 7, 3], w: [3, 3, 1, 24], options: { groups: 3, pads: 1 }, ref: p([1, 1], [1, 1, 1, 1], [1, 1], 3) },
  { name: "1x1", x: [2, 5, 7, 17], w: [1, 1, 17, 9], options: {}, ref: p([1, 1], [0, 0, 0, 0]) },
  // pointwise convs take the GEMM path: sizes around its 4x8 register tile
  { name: "1x1 GEMM path, 1 channel", x: [1, 1, 1, 1], w: [1, 1, 1, 1], options: {}, ref: p([1, 1], [0, 0, 0, 0]) },
  { name: "1x1 GEMM path, C 4 OC 8", x: [2, 2, 2, 4], w: [1, 1, 4, 8], options: {}, ref: p([1, 1], [0, 0, 0, 0]) },
  { name: "1x1 GEMM path, C 9 OC 16", x: [1, 3, 5, 9], w: [1, 1, 9, 16], options: {}, ref: p([1, 1], [0, 0, 0, 0]) },
  { name: "1x1 GEMM path, C 33 OC 5", x: [2, 3, 3, 33], w: [1, 1, 33, 5], options: {}, ref: p([1, 1], [0, 0, 0, 0]) },
  { name: "1x1 GEMM path, C 3 OC 17", x: [1, 7, 1, 3], w: [1, 1, 3, 17], options: {}, ref: p([1, 1], [0, 0, 0, 0]) },
  // a 1x1 image whose padding leaves one tap inside (1x1 output) is the GEMM of that tap's weights
  { name: "1x1 image, 3x3 pad 1: GEMM on the centre tap", x: [3, 1, 1, 20], w: [3, 3, 20, 9], options: { pads: 1 }, ref: p([1, 1], [1, 1, 1, 1]) },
  {
    name: "1x1 image, 5x4 pads [2,1,2,2] stride 2: GEMM on tap (2,1)",
    x: [2, 1, 1, 7],
    w: [5, 4, 7, 12],
    options: { pads: [2, 1, 2, 2], strides: 2 },
    ref: p([2, 2], [2, 1, 2, 2]),
  },
  {
    name: "1x1 image, 3x3 dilation 2 pads 2: GEMM on the centre tap",
    x: [2, 1, 1, 5],
    w: [3, 3, 5, 8],
    options: { pads: 2, dilations: 2 },
    ref: p([1, 1], [2, 2, 2, 2], [2, 2]),
  },
  {
    name: "1x1 image, dilation 2 pads [1,1,3,3]: no tap inside (bias only)",
    x: [2, 1, 1, 5],
    w: [3, 3, 5, 8],
    options: { pads: [1, 1, 3, 3], dilations: 2 },
    ref: p([1, 1], [1, 1, 3, 3], [2, 2]),
  },
  {
    name: "1x1 image, 3x3 pad 1, groups 2 (not the GEMM path)",
    x: [2, 1, 1, 6],
    w: [3, 3, 3, 4],
    options: { pads: 1, groups: 2 },
    ref: p([1, 1], [1, 1, 1, 1], [1, 1], 2),
  },
  // tiny images (src/ops/conv2d_tiny.ts when dispatched by shape): per-pixel GEMMs with the inside taps only
  { name: "tiny 2x2 image, 3x3 pad 1, C 9 OC 13", x: [3, 2, 2, 9], w: [3, 3, 9, 13], options: { pads: 1 }, ref: p([1, 1], [1, 1, 1, 1]) },
  { name: "tiny 3x3 image, pads [1,0,2,1]", x: [2, 3, 3, 8], w: [3, 3, 8, 12], options: { pads: [1, 0, 2, 1] }, ref: p([1, 1], [1, 0, 2, 1]) },
  { name: "tiny 1x3 image, 5x5 pad 2", x: [2, 1, 3, 10], w: [5, 5, 10, 8], options: { pads: 2 }, ref: p([1, 1], [2, 2, 2, 2]) },
  {
    name: "tiny 2x2 image, 2x2 kernel, pads [0,0,2,1]: output pixels no tap reaches",
    x: [2, 2, 2, 8],
    w: [2, 2, 8, 9],
    options: { pads: [0, 0, 2, 1] },
    ref: p([1, 1], [0, 0, 2, 1]),
  },
  { name: "1x1 stride 2 pad 1", x: [2, 5, 7, 3], w: [1, 1, 3, 4], options: { strides: 2, pads: 1 }, ref: p([2, 2], [1, 1, 1, 1]) },
  { name: "kernel as large as the input", x: [2, 3, 5, 4], w: [3, 5, 4, 8], options: {}, ref: p([1, 1], [0, 0, 0, 0]) },
  { name: "pads larger than the kernel", x: [1, 3, 4, 3], w: [2, 2, 3, 5], options: { pads: [3, 2, 0, 4] }, ref: p([1, 1], [3, 2, 0, 4]) },
  {
    name: "SAME_UPPER stride 2, even input",
    x: [2, 8, 10, 4],
    w: [3, 3, 4, 8],
    options: { autoPad: "SAME_UPPER", strides: 2 },
    ref: sameRef([8, 10], [3, 3], [2, 2], [1, 1], true),
  },
  {
    name: "SAME_LOWER stride 2, even input",
    x: [2, 8, 10, 4],
    w: [3, 3, 4, 8],
    options: { autoPad: "SAME_LOWER", strides: 2 },
    ref: sameRef([8, 10], [3, 3], [2, 2], [1, 1], false),
  },
  { name: "SAME_UPPER 4x4 kernel", x: [1, 7, 9, 5], w: [4, 4, 5, 9], options: { autoPad: "SAME_UPPER" }, ref: sameRef([7, 9], [4, 4], [1, 1], [1, 1], true) },
  {
    name: "SAME_LOWER 4x2 kernel dilation 2",
    x: [1, 7, 9, 5],
    w: [4, 2, 5, 9],
    options: { autoPad: "SAME_LOWER", dilations: 2 },
    ref: sameRef([7, 9], [4, 2], [1, 1], [2, 2], false),
  },
  { name: "VALID stride 2", x: [2, 9, 8, 3], w: [3, 3, 3, 4], options: { autoPad: "VALID", strides: 2 }, ref: p([2, 2], [0, 0, 0, 0]) },
];

function sameRef(hw: [number, number], k: [number, number], s: [number, number], d: [number, number], upper: boolean): RefParams {
  const [pt, pb] = samePads(hw[0], s[0], k[0], d[0], upper);
  const [pl, pr] = samePads(hw[1], s[1], k[1], d[1], upper);
  return p(s, [pt, pl, pb, pr], d);
}

/** Checks forward and all three gradients (accumulated onto non-zero starting values) against the reference. */
function checkConvAgainstReference(e: Engine, c: ConvCase, seed: number): void {
  e.tidy(() => {
    const xv = uniform(size(c.x), seed),
      wv = uniform(size(c.w), seed + 1),
      bv = uniform(c.w[3], seed + 2);
    const x = e.tensor(c.x, xv),
      w = e.tensor(c.w, wv),
      b = e.tensor([c.w[3]], bv);
    const ref = conv2dRef(xv, c.x, wv, c.w, bv, c.ref);
    expect(conv2dOutputShape(c.x, c.w, c.options)).toEqual(ref.shape);
    const y = conv2d(x, w, b, c.options);
    expect(y.shape).toEqual(ref.shape);
    expectClose(y.data, ref.y, { ...TOL, label: `${c.name} y` });

    const dyv = uniform(ref.y.length, seed + 3);
    const g = conv2dBackwardRef(dyv, xv, c.x, wv, c.w, c.ref);
    const start = 0.25;
    const grads = {
      dx: e.tensor(c.x, new Float32Array(xv.length).fill(start)),
      dw: e.tensor(c.w, new Float32Array(wv.length).fill(start)),
      db: e.tensor([c.w[3]], new Float32Array(c.w[3]).fill(start)),
    };
    const r = conv2dBackward(e.tensor(ref.shape, dyv), x, w, c.options, grads);
    expect(r.dx).toBe(grads.dx);
    expectClose(
      r.dx.data,
      g.dx.map((v) => v + start),
      { ...TOL, label: `${c.name} dx` },
    );
    expectClose(
      r.dw.data,
      g.dw.map((v) => v + start),
      { ...TOL, label: `${c.name} dw` },
    );
    expectClose(
      r.db!.data,
      g.db.map((v) => v + start),
      { ...TOL, label: `${c.name} db` },
    );
  });
}

interface TransposeCase {
  name: string;
  x: Shape4;
  w: Shape4; // [KH, KW, Cout/groups, Cin]
  options: ConvTranspose2dOptions;
  ref: RefParams;
  out: [number, number];
}

function tcase(
  name: string,
  x: Shape4,
  w: Shape4,
  options: ConvTranspose2dOptions,
  ref: RefParams,
  outPad: [number, number] = [0, 0],
  out?: [number, number],
): TransposeCase {
  return {
    name,
    x,
    w,
    options,
    ref,
    out: out ?? [
      convTransposeOutputSize(x[1], ref.strides[0], w[0], ref.dilations[0], outPad[0], ref.pads[0], ref.pads[2]),
      convTransposeOutputSize(x[2], ref.strides[1], w[1], ref.dilations[1], outPad[1], ref.pads[1], ref.pads[3]),
    ],
  };
}

/** ONNX ConvTranspose pads from an output shape: total = natural - out, the odd pixel at the end for SAME_UPPER. */
function transposePadsFor(
  x: Shape4,
  w: Shape4,
  s: [number, number],
  d: [number, number],
  op: [number, number],
  out: [number, number],
  upper: boolean,
): [number, number, number, number] {
  const split = (total: number): [number, number] => {
    const half = Math.floor(total / 2);
    return upper ? [half, total - half] : [total - half, half];
  };
  const [pt, pb] = split(convTransposeOutputSize(x[1], s[0], w[0], d[0], op[0], 0, 0) - out[0]);
  const [pl, pr] = split(convTransposeOutputSize(x[2], s[1], w[1], d[1], op[1], 0, 0) - out[1]);
  return [pt, pl, pb, pr];
}

const TRANSPOSE_CASES: TransposeCase[] = [
  tcase("1x1 (GEMM path)", [2, 3, 5, 9], [1, 1, 17, 9], {}, p([1, 1], [0, 0, 0, 0])),
  tcase("3x3 stride 1 pad 1", [2, 5, 7, 5], [3, 3, 9, 5], { pads: 1 }, p([1, 1], [1, 1, 1, 1])),
  tcase("1x1 image, 3x3 pad 1 (GEMM on the centre tap)", [2, 1, 1, 6], [3, 3, 5, 6], { pads: 1 }, p([1, 1], [1, 1, 1, 1])),
  tcase("stride 2, no pad", [2, 4, 5, 3], [3, 3, 8, 3], { strides: 2 }, p([2, 2], [0, 0, 0, 0])),
  tcase(
    "stride 2, asymmetric pads, output padding 1",
    [1, 4, 6, 8],
    [3, 3, 4, 8],
    { strides: 2, pads: [1, 0, 0, 2], outputPadding: 1 },
    p([2, 2], [1, 0, 0, 2]),
    [1, 1],
  ),
  tcase("4x4 stride 2 pad 1 (2x upsampling)", [2, 3, 5, 17], [4, 4, 3, 17], { strides: 2, pads: 1 }, p([2, 2], [1, 1, 1, 1])),
  tcase("dilation 2", [1, 4, 5, 4], [3, 3, 5, 4], { dilations: 2, pads: [1, 2, 0, 1] }, p([1, 1], [1, 2, 0, 1], [2, 2])),
  tcase("groups 2", [2, 4, 5, 8], [3, 3, 3, 8], { groups: 2, strides: [2, 1] }, p([2, 1], [0, 0, 0, 0], [1, 1], 2)),
  tcase("depthwise", [2, 4, 5, 9], [3, 3, 1, 9], { groups: 9, strides: 2, pads: 1 }, p([2, 2], [1, 1, 1, 1], [1, 1], 9)),
  tcase(
    "outputShape larger than natural (SAME_LOWER split)",
    [1, 3, 4, 4],
    [3, 3, 4, 4],
    { strides: 2, outputShape: [8, 10] },
    p([2, 2], transposePadsFor([1, 3, 4, 4], [3, 3, 4, 4], [2, 2], [1, 1], [0, 0], [8, 10], false)),
    [0, 0],
    [8, 10],
  ),
  tcase(
    "outputShape smaller, SAME_UPPER",
    [1, 3, 4, 4],
    [3, 3, 4, 4],
    { strides: 2, outputShape: [6, 7], autoPad: "SAME_UPPER" },
    p([2, 2], transposePadsFor([1, 3, 4, 4], [3, 3, 4, 4], [2, 2], [1, 1], [0, 0], [6, 7], true)),
    [0, 0],
    [6, 7],
  ),
  tcase(
    "autoPad SAME_UPPER stride 2 (output = 2x input)",
    [2, 3, 4, 5],
    [3, 3, 4, 5],
    { strides: 2, autoPad: "SAME_UPPER" },
    p([2, 2], transposePadsFor([2, 3, 4, 5], [3, 3, 4, 5], [2, 2], [1, 1], [0, 0], [6, 8], true)),
    [0, 0],
    [6, 8],
  ),
];

describe.each(BUILDS_UNDER_TEST)("conv2d, %s build", (build) => {
  it.each(CHANNELS)("dispatched by shape, and every algorithm that supports a pass, match the reference for C=%i and every OC at the tile edges", async (C) => {
    const e = await engineFor(build);
    for (const OC of CHANNELS) {
      const c: ConvCase = { name: `C=${C} OC=${OC}`, x: [2, 5, 11, C], w: [3, 3, C, OC], options: { pads: 1 }, ref: p([1, 1], [1, 1, 1, 1]) };
      checkConvAgainstReference(e, c, C * 31 + OC);
      expectEveryAlgorithmMatchesReference(e, c.name, c.x, c.w, c.options, c.ref, C * 31 + OC, TOL);
    }
  });

  it.each(GEOMETRY_CASES.map((c) => [c.name, c] as const))(
    "dispatched by shape, and every algorithm that supports a pass, match the reference: %s",
    async (_name, c) => {
      const e = await engineFor(build);
      checkConvAgainstReference(e, c, 11);
      expectEveryAlgorithmMatchesReference(e, c.name, c.x, c.w, c.options, c.ref, 11, TOL);
    },
  );

  it("the cases above ran every algorithm on every pass it supports in this build", () => {
    const ran = ALGORITHMS_RUN.get(build) ?? new Set();
    const target: ConvTarget = { build, threads: 1 };
    for (const alg of CONV_ALGORITHMS) {
      for (const pass of alg.passes) {
        // SIMD-only algorithms support nothing in the scalar build
        const somewhere =
          GEOMETRY_CASES.some((c) => alg.supports(pass, convGeometry("test", c.x, c.w, c.options), target)) ||
          CHANNELS.some((C) => CHANNELS.some((OC) => alg.supports(pass, convGeometry("test", [2, 5, 11, C], [3, 3, C, OC], { pads: 1 }), target)));
        expect(ran.has(`${alg.name} ${pass}`), `${alg.name} ${pass}`).toBe(somewhere);
        if (build !== "scalar") expect(somewhere, `${alg.name} ${pass} supports some case`).toBe(true);
      }
    }
  });

  it("forward writes into `out` and works without bias", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const xv = uniform(2 * 5 * 6 * 3, 1),
        wv = uniform(3 * 3 * 3 * 4, 2);
      const out = e.tensor([2, 3, 4, 4], new Float32Array(96).fill(7));
      expect(conv2d(e.tensor([2, 5, 6, 3], xv), e.tensor([3, 3, 3, 4], wv), null, {}, out)).toBe(out);
      expectClose(out.data, conv2dRef(xv, [2, 5, 6, 3], wv, [3, 3, 3, 4], null, p([1, 1], [0, 0, 0, 0])).y, TOL);
      const r = conv2dBackward(e.tensor([2, 3, 4, 4], uniform(96, 3)), e.tensor([2, 5, 6, 3], xv), e.tensor([3, 3, 3, 4], wv), {}, {}, false);
      expect(r.db).toBeUndefined();
    });
  });

  it("dx, dw and db match finite differences (stride 2, asymmetric pads, groups 2)", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const opts: Conv2dOptions = { strides: [2, 1], pads: [1, 0, 2, 1], groups: 2 };
      const x = e.tensor([2, 5, 6, 4], uniform(240, 1)),
        w = e.tensor([3, 2, 2, 6], uniform(72, 2)),
        b = e.tensor([6], uniform(6, 3));
      const ys = conv2dOutputShape(x.shape, w.shape, opts);
      const r = uniform(size(ys), 4);
      const { dx, dw, db } = conv2dBackward(e.tensor(ys, r), x, w, opts);
      const loss = () => e.tidy(() => dot(conv2d(x, w, b, opts).data, r));
      expectGradientMatches(x, dx.data, loss, { label: "dx" });
      expectGradientMatches(w, dw.data, loss, { label: "dw" });
      expectGradientMatches(b, db!.data, loss, { label: "db" });
    });
  });

  it("dx and dw of a 1x1 image's 3x3 pad-1 conv (the GEMM on its centre tap) match finite differences", async () => {
    expectConvGradientsMatchFiniteDifferences(await engineFor(build), [3, 1, 1, 10], [3, 3, 10, 9], { pads: 1 }, 7);
  });

  it("dx and dw of a tiny 2x2 image's conv (per-pixel GEMMs) match finite differences", async () => {
    expectConvGradientsMatchFiniteDifferences(await engineFor(build), [3, 2, 2, 9], [3, 3, 9, 10], { pads: 1 }, 8);
  });

  it("dx and dw of a 2-group conv with 32 channels a group (group slices) match finite differences", async () => {
    expectConvGradientsMatchFiniteDifferences(await engineFor(build), [1, 4, 5, 64], [3, 3, 32, 64], { groups: 2, pads: 1 }, 9);
  });

  it("depthwise dx and dw match finite differences (dilation 2)", async () => {
    expectConvGradientsMatchFiniteDifferences(await engineFor(build), [2, 5, 6, 5], [3, 3, 1, 5], { groups: 5, pads: 2, dilations: 2 }, 5);
  });

  it.each(TRANSPOSE_CASES.map((c) => [c.name, c] as const))("convTranspose2d matches the reference: %s", async (_name, c) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const cout = c.w[2] * c.ref.groups;
      const xv = uniform(size(c.x), 21),
        wv = uniform(size(c.w), 22),
        bv = uniform(cout, 23);
      const ref = convTranspose2dRef(xv, c.x, wv, c.w, bv, c.ref, c.out);
      expect(convTranspose2dOutputShape(c.x, c.w, c.options)).toEqual(ref.shape);
      const y = convTranspose2d(e.tensor(c.x, xv), e.tensor(c.w, wv), e.tensor([cout], bv), c.options);
      expect(y.shape).toEqual(ref.shape);
      expectClose(y.data, ref.y, { ...TOL, label: `${c.name} y` });
    });
  });

  it.each(TRANSPOSE_CASES.map((c) => [c.name, c] as const))("convTranspose2d gradients match finite differences: %s", async (_name, c) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const cout = c.w[2] * c.ref.groups;
      const x = e.tensor(c.x, uniform(size(c.x), 31)),
        w = e.tensor(c.w, uniform(size(c.w), 32)),
        b = e.tensor([cout], uniform(cout, 33));
      const ys = convTranspose2dOutputShape(c.x, c.w, c.options);
      const r = uniform(size(ys), 34);
      const start = 0.5;
      const given = { dx: e.tensor(c.x, new Float32Array(size(c.x)).fill(start)) };
      const { dx, dw, db } = convTranspose2dBackward(e.tensor(ys, r), x, w, c.options, given);
      expect(dx).toBe(given.dx);
      const dxv = dx.data.map((v) => v - start);
      const loss = () => e.tidy(() => dot(convTranspose2d(x, w, b, c.options).data, r));
      expectGradientMatches(x, dxv, loss, { label: "dx", samples: 12 });
      expectGradientMatches(w, dw.data, loss, { label: "dw", samples: 12 });
      expectGradientMatches(b, db!.data, loss, { label: "db", samples: 12 });
    });
  });

  it("matches ONNX's conformance outputs (conv_with_strides_*, convtranspose_pads)", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      // ONNX node tests: x 7x5 = 0..34, W 3x3 of ones, strides 2 (single channel, so NCHW == NHWC).
      const x = e.tensor(
        [1, 7, 5, 1],
        Array.from({ length: 35 }, (_, i) => i),
      );
      const ones = e.tensor([3, 3, 1, 1], new Float32Array(9).fill(1));
      expect(Array.from(conv2d(x, ones, null, { strides: 2, pads: 1 }).data)).toEqual([12, 27, 24, 63, 108, 81, 123, 198, 141, 112, 177, 124]);
      expect(Array.from(conv2d(x, ones, null, { strides: 2 }).data)).toEqual([54, 72, 144, 162, 234, 252]);
      expect(Array.from(conv2d(x, ones, null, { strides: 2, pads: [1, 0, 1, 0] }).data)).toEqual([21, 33, 99, 117, 189, 207, 171, 183]);
      // test_convtranspose_pads: x 3x3 = 0..8, W ones [Cin 1, Cout 2, 3, 3], strides [3,2], pads [1,2,1,2] -> 2 x 7x3.
      const xt = e.tensor(
        [1, 3, 3, 1],
        Array.from({ length: 9 }, (_, i) => i),
      );
      const y = convTranspose2d(xt, e.tensor([3, 3, 2, 1], new Float32Array(18).fill(1)), null, { strides: [3, 2], pads: [1, 2, 1, 2] });
      expect(y.shape).toEqual([1, 7, 3, 2]);
      const plane = [1, 1, 3, 1, 1, 3, 7, 4, 9, 7, 4, 9, 7, 4, 9, 13, 7, 15, 13, 7, 15];
      expect(Array.from(y.data)).toEqual(plane.flatMap((v) => [v, v]));
    });
  });

  it("rejects bad arguments with messages naming the op, the argument and the shapes", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.zeros([1, 5, 5, 4]),
        w = e.zeros([3, 3, 4, 8]);
      expect(() => conv2d(x, e.zeros([3, 3, 3, 8]))).toThrow(SimdnetError);
      expect(() => conv2d(x, e.zeros([3, 3, 3, 8]))).toThrow("conv2d: x [1,5,5,4] has 4 channels but w [3,3,3,8] expects 3");
      expect(() => conv2d(x, e.zeros([7, 3, 4, 8]))).toThrow(/^conv2d: kernel 7x3 \(dilated 7x3\) of w \[7,3,4,8\] is larger than the padded input 5x5/);
      expect(() => conv2d(x, w, null, { dilations: 3 })).toThrow("conv2d: kernel 3x3 (dilated 7x7)");
      expect(() => conv2d(x, w, null, { strides: 0 })).toThrow("conv2d: strides[0] must be an integer >= 1, got 0");
      expect(() => conv2d(x, w, null, { strides: [1, -2] })).toThrow("conv2d: strides[1] must be an integer >= 1, got -2");
      expect(() => conv2d(x, w, null, { dilations: [1.5, 1] })).toThrow("conv2d: dilations[0] must be an integer >= 1, got 1.5");
      expect(() => conv2d(x, w, null, { pads: [0, Infinity, 0, 0] })).toThrow("conv2d: pads[1] must be an integer >= 0, got Infinity");
      expect(() => conv2d(x, w, null, { pads: [1, 1] as never })).toThrow("conv2d: pads must be a number or [top, left, bottom, right]");
      expect(() => conv2d(x, w, null, { pads: -1 })).toThrow("conv2d: pads[0] must be an integer >= 0, got -1");
      expect(() => conv2d(x, w, null, { groups: NaN })).toThrow("conv2d: groups must be an integer >= 1, got NaN");
      expect(() => conv2d(x, e.zeros([3, 3, 1, 8]), null, { groups: 3 })).toThrow("conv2d: groups 3 does not divide the 4 channels of x [1,5,5,4]");
      expect(() => conv2d(x, e.zeros([3, 3, 2, 6]), null, { groups: 4 })).toThrow("conv2d: groups 4 does not divide the 6 output channels of w [3,3,2,6]");
      expect(() => conv2d(x, w, e.zeros([7]))).toThrow("conv2d: b must have shape [8] (the output channels of w [3,3,4,8]), got [7]");
      expect(() => conv2d(x, w, null, { autoPad: "SAME" as never })).toThrow("conv2d: autoPad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID");
      expect(() => conv2d(x, w, null, { autoPad: "VALID", pads: 1 })).toThrow("conv2d: pads cannot be given with autoPad VALID");
      expect(() => conv2d(e.zeros([5, 5, 4]), w)).toThrow("conv2d: x must have rank 4, got shape [5,5,4]");
      expect(() => conv2d(x, w, null, {}, e.zeros([1, 3, 3, 7]))).toThrow("conv2d: out must have shape [1,3,3,8], got [1,3,3,7]");
      expect(() => conv2dBackward(e.zeros([1, 3, 3, 7]), x, w)).toThrow("conv2dBackward: dy must have shape [1,3,3,8], got [1,3,3,7]");
      expect(() => conv2dBackward(e.zeros([1, 3, 3, 8]), x, w, {}, { dw: e.zeros([3, 3, 4, 7]) })).toThrow(
        "conv2dBackward: dw must have shape [3,3,4,8], got [3,3,4,7]",
      );
      expect(() => conv2dOutputShape([1, 5, 5, 4], [3, 3, 4], {})).toThrow("conv2dOutputShape: wShape must be an array of 4 integers >= 1, got [3,3,4]");
      const xt = e.zeros([1, 3, 3, 4]);
      expect(() => convTranspose2d(xt, e.zeros([3, 3, 2, 5]))).toThrow("convTranspose2d: x [1,3,3,4] has 4 channels but w [3,3,2,5] expects 5");
      expect(() => convTranspose2d(xt, e.zeros([3, 3, 2, 4]), null, { strides: 2, outputPadding: 2 })).toThrow(
        "convTranspose2d: outputPadding [2,2] must be smaller than the stride [2,2] or the dilation [1,1]",
      );
      expect(() => convTranspose2d(xt, e.zeros([3, 3, 2, 4]), null, { groups: 3 })).toThrow(
        "convTranspose2d: groups 3 does not divide the 4 channels of x [1,3,3,4]",
      );
      expect(() => convTranspose2d(xt, e.zeros([3, 3, 2, 4]), null, { pads: 3 })).toThrow("convTranspose2d: pads [3,3,3,3] leave no output");
      expect(() => convTranspose2d(xt, e.zeros([3, 3, 2, 4]), e.zeros([4]))).toThrow("convTranspose2d: b must have shape [2]");
      expect(() => convTranspose2d(xt, e.zeros([3, 3, 2, 4]), null, { outputShape: [0, 4] })).toThrow(
        "convTranspose2d: outputShape[0] must be an integer >= 1, got 0",
      );
    });
  });
});

/** conv2d's y and conv2dBackward's dx and dw (no bias), each copied out and its tensor freed. */
function allPasses(x: Tensor, w: Tensor, dy: Tensor, opts: Conv2dOptions): Float32Array[] {
  const y = conv2d(x, w, null, opts);
  const yv = Float32Array.from(y.data);
  y.dispose();
  const r = conv2dBackward(dy, x, w, opts, {}, false);
  const out = [yv, Float32Array.from(r.dx.data), Float32Array.from(r.dw.data)];
  r.dx.dispose();
  r.dw.dispose();
  return out;
}

describe("conv2d workspaces", () => {
  it("a workspace that does not fit throws OutOfMemoryError and changes nothing; never another algorithm", async () => {
    // this threads-build engine's memory stops at 1 GiB (memoryLimit): fill it up to 12 MB, room for each pass's output,
    // not for the 16 * 512 * 512 floats (16 MB) of a 512 -> 512 conv's transformed filter
    const e = await init({ build: "threads", memoryLimit: 2 ** 30 });
    try {
      const opts: Conv2dOptions = { pads: 1, algorithm: "conv2d.winograd" };
      const x = e.tensor([1, 6, 6, 512], uniform(6 * 6 * 512, 41)),
        w = e.tensor([3, 3, 512, 512], uniform(9 * 512 * 512, 42));
      const dy = e.tensor([1, 6, 6, 512], uniform(6 * 6 * 512, 43));
      const withRoom = allPasses(x, w, dy, opts);
      const bytes = conv2dWorkspaceBytes(e, x.shape, w.shape, opts);
      expect(bytes).toBeGreaterThan(16 * 512 * 512 * 4);
      // a workspace made while there is room keeps working when the heap is full
      const ws = e.empty([bytes / 4], "f32", "workspace");
      const filler = e.empty([Math.floor((1024 * 2 ** 20 - e.heap.bytesInUse) / 4) - 3 * 2 ** 20], "f32", "filler");
      const used = e.heap.bytesInUse;
      expect(() => conv2d(x, w, null, opts)).toThrow(OutOfMemoryError);
      expect(e.heap.bytesInUse, "the output made for the call is freed again").toBe(used);
      const dx = e.zeros(x.shape);
      expect(() => conv2dBackwardInput(dy, w, x.shape, opts, dx)).toThrow(
        /out of memory: the workspace of conv2dBackwardInput \(conv2d.winograd for backward_input\)/,
      );
      expect(e.heap.bytesInUse).toBe(used + 4 * x.size);
      expect(
        dx.data.every((v) => v === 0),
        "dx unchanged",
      ).toBe(true);
      const allocations = e.heap.allocationCount;
      const full = allPasses(x, w, dy, { ...opts, workspace: ws });
      expect(e.heap.allocationCount - allocations, "y, dx and dw: no workspace").toBe(3);
      filler.dispose();
      for (let i = 0; i < 3; i++) expect(firstDifference(full[i]!, withRoom[i]!), ["y", "dx", "dw"][i]).toBe(-1);
    } finally {
      e.dispose();
    }
  });

  it.each(BUILDS_UNDER_TEST)(
    "with options.workspace every algorithm allocates nothing and gives the bits of an allocated workspace (%s build)",
    async (build) => {
      const e = await engineFor(build);
      const cases: [Shape4, Shape4, Conv2dOptions][] = [
        [[2, 6, 7, 16], [3, 3, 16, 16], { pads: 1 }],
        [[2, 9, 11, 3], [3, 3, 3, 8], { pads: 1 }],
        [[2, 5, 7, 64], [3, 3, 32, 64], { groups: 2, pads: 1 }],
        [[3, 2, 2, 9], [3, 3, 9, 13], { pads: 1 }],
        [[2, 4, 5, 512], [1, 1, 512, 8], {}],
        [[2, 7, 9, 6], [3, 3, 1, 6], { groups: 6, pads: 1 }],
      ];
      const target: ConvTarget = { build, threads: 1 };
      for (const [xs, ws, options] of cases) {
        e.tidy(() => {
          const x = e.tensor(xs, uniform(size(xs), 1)),
            w = e.tensor(ws, uniform(size(ws), 2));
          const g = convGeometry("test", xs, ws, options);
          const dy = e.tensor(conv2dOutputShape(xs, ws, options), uniform(g.n * g.oh * g.ow * g.oc, 3));
          for (const pass of CONV_PASSES) {
            for (const alg of supportingConvAlgorithms(pass, g, target)) {
              const opts = { ...options, algorithm: alg.name };
              const run = (o: Conv2dOptions) =>
                pass === "forward" ? conv2d(x, w, null, o) : pass === "backward_input" ? conv2dBackwardInput(dy, w, xs, o) : conv2dBackwardFilter(dy, x, ws, o);
              const plain = Float32Array.from(run(opts).data);
              const bytes = conv2dWorkspaceBytes(e, xs, ws, opts, [pass]);
              expect(bytes, `${alg.name} ${pass}`).toBe(alg.workspaceBytes(pass, g, target));
              const workspace = e.empty([Math.max(1, bytes / 4)], "f32", "workspace");
              const before = e.heap.allocationCount;
              const out = run({ ...opts, workspace });
              expect(e.heap.allocationCount - before, `${alg.name} ${pass}: only the output`).toBe(1);
              expect(firstDifference(out.data, plain), `${alg.name} ${pass}`).toBe(-1);
            }
          }
        });
      }
    },
  );

  it("a workspace too small, of another engine, or an algorithm that does not support the pass, is an error", async () => {
    const e = await engineFor("simd"),
      other = await engineFor("scalar");
    e.tidy(() => {
      const x = e.tensor([1, 8, 8, 16], uniform(1024, 1)),
        w = e.tensor([3, 3, 16, 16], uniform(2304, 2));
      const need = conv2dWorkspaceBytes(e, x.shape, w.shape, { pads: 1 }, ["forward"]);
      expect(need).toBe(
        chooseConvAlgorithm("forward", convGeometry("t", x.shape, w.shape, { pads: 1 }), { build: "simd", threads: 1 }).workspaceBytes(
          "forward",
          convGeometry("t", x.shape, w.shape, { pads: 1 }),
          { build: "simd", threads: 1 },
        ),
      );
      expect(need).toBeGreaterThan(16);
      expect(() => conv2d(x, w, null, { pads: 1, workspace: e.empty([need / 4 - 4]) })).toThrow(
        new RegExp(`^conv2d: options.workspace \\[${need / 4 - 4}\\] has ${need - 16} bytes but conv2d\\.\\w+ needs ${need} for forward`),
      );
      expect(() => conv2d(x, w, null, { pads: 1, workspace: other.tidy(() => other.zeros([need / 4])) })).toThrow(/different engine|disposed/);
      expect(() => conv2d(x, w, null, { pads: 1, algorithm: "conv2d.stem" })).toThrow(
        "conv2d: algorithm conv2d.stem does not support forward of x [1,8,8,16] and w [3,3,16,16] (strides [1,1], dilations [1,1], groups 1) in the simd build",
      );
      expect(() => conv2dBackwardInput(e.zeros([1, 8, 8, 16]), w, x.shape, { pads: 1, algorithm: "conv2d.blocked" })).toThrow(
        /does not support backward_input/,
      );
      expect(() => conv2d(x, w, null, { pads: 1, algorithm: "conv2d.fastest" })).toThrow(
        /no convolution algorithm is named "conv2d.fastest" \(known: conv2d.gemm_tap, /,
      );
      expect(() => convAlgorithm("nope")).toThrow(SimdnetError);
      expect(() => conv2dWorkspaceBytes(e, x.shape, w.shape, { pads: 1 }, ["sideways" as never])).toThrow(/passes must be an array/);
    });
  });
});

describe("algorithm choice", () => {
  const target: ConvTarget = { build: "simd", threads: 1 };
  const conv = (c: number, oc: number, ow: number, s = 1) => convGeometry("t", [1, ow * s, ow * s, c], [3, 3, c, oc], { strides: s, pads: 1 });
  it("im2col takes one-group convs with 8+ input channels and outputs under 16 pixels wide, every pass", () => {
    for (const pass of CONV_PASSES) {
      expect(IM2COL.eligible(pass, conv(256, 512, 7, 2), target)).toBe(true);
      expect(IM2COL.eligible(pass, conv(256, 512, 15), target)).toBe(true);
      expect(IM2COL.eligible(pass, conv(256, 512, 16, 2), target)).toBe(false);
      expect(IM2COL.eligible(pass, conv(4, 512, 7, 2), target)).toBe(false); // few channels: their own kernels
      expect(IM2COL.eligible(pass, { ...conv(256, 512, 7, 2), groups: 2 }, target)).toBe(false);
      expect(IM2COL.eligible(pass, { ...conv(256, 512, 7), n: 1 << 20 }, target)).toBe(false); // the matrix would pass 64 MB
      expect(IM2COL.supports(pass, { ...conv(256, 512, 7), n: 1 << 20 }, target)).toBe(true);
    }
  });

  it("im2col takes the filter gradient of strided convs with up to 64 output channels at any width", () => {
    expect(IM2COL.eligible("backward_filter", conv(64, 64, 56, 2), target)).toBe(true);
    expect(IM2COL.eligible("forward", conv(64, 64, 56, 2), target)).toBe(false);
    expect(IM2COL.eligible("backward_input", conv(64, 64, 56, 2), target)).toBe(false);
    expect(IM2COL.eligible("backward_filter", conv(64, 128, 28, 2), target)).toBe(false);
    expect(IM2COL.eligible("backward_filter", conv(64, 64, 56, 1), target)).toBe(false);
    expect(IM2COL.supports("forward", conv(4, 512, 56), target)).toBe(true);
  });

  it("takes the first eligible entry of the registry, by shape and build alone (never the thread count)", () => {
    const cases: [Shape4, Shape4, Conv2dOptions, string, string, string][] = [
      [[8, 56, 56, 64], [1, 1, 64, 256], {}, "conv2d.gemm_tap", "conv2d.gemm_tap", "conv2d.gemm_tap"],
      [[16, 1, 1, 512], [3, 3, 512, 512], { pads: 1 }, "conv2d.gemm_tap", "conv2d.gemm_tap", "conv2d.gemm_tap"],
      [[4, 13, 13, 384], [3, 3, 192, 384], { groups: 2, pads: 1 }, "conv2d.group_slices", "conv2d.group_slices", "conv2d.group_slices"],
      [[8, 2, 2, 512], [3, 3, 512, 512], { pads: 1 }, "conv2d.tiny", "conv2d.tiny", "conv2d.tiny"],
      [[1, 56, 56, 64], [3, 3, 64, 64], { pads: 1 }, "conv2d.winograd", "conv2d.winograd", "conv2d.winograd"],
      [[16, 14, 14, 256], [3, 3, 256, 512], { strides: 2, pads: 1 }, "conv2d.im2col", "conv2d.im2col", "conv2d.im2col"],
      [[1, 224, 224, 3], [7, 7, 3, 64], { strides: 2, pads: 3 }, "conv2d.stem", "conv2d.direct", "conv2d.direct_few"],
      // a strided 1x1 conv: the pixels it reads, then one GEMM (ResNet-50's downsample)
      [[1, 56, 56, 256], [1, 1, 256, 512], { strides: 2 }, "conv2d.im2col", "conv2d.im2col", "conv2d.im2col"],
      [[64, 28, 28, 1], [5, 5, 1, 6], { pads: 2 }, "conv2d.small", "conv2d.small", "conv2d.small"],
      [[1, 64, 64, 64], [5, 5, 64, 64], { pads: 2 }, "conv2d.blocked", "conv2d.direct", "conv2d.direct"],
      [[1, 56, 56, 128], [3, 3, 1, 128], { groups: 128, pads: 1 }, "conv2d.depthwise", "conv2d.depthwise", "conv2d.depthwise"],
      [[2, 9, 9, 12], [3, 3, 4, 12], { groups: 3, pads: 1 }, "conv2d.direct", "conv2d.direct", "conv2d.direct_few"],
    ];
    for (const [xs, ws, options, ...names] of cases) {
      const g = convGeometry("t", xs, ws, options);
      CONV_PASSES.forEach((pass, i) => {
        for (const threads of [1, 2, 8])
          expect(chooseConvAlgorithm(pass, g, { build: "simd", threads }).name, `${pass} of ${fmtShapes(xs, ws)}`).toBe(names[i]);
        for (const build of ["threads", "relaxed-threads"] as const) expect(chooseConvAlgorithm(pass, g, { build, threads: 2 }).name).toBe(names[i]);
      });
    }
    // the scalar build has no Winograd, stem or few-channel filter kernels
    expect(chooseConvAlgorithm("forward", convGeometry("t", [1, 56, 56, 64], [3, 3, 64, 64], { pads: 1 }), { build: "scalar", threads: 1 }).name).toBe(
      "conv2d.blocked",
    );
    expect(
      chooseConvAlgorithm("forward", convGeometry("t", [1, 224, 224, 3], [7, 7, 3, 64], { strides: 2, pads: 3 }), { build: "scalar", threads: 1 }).name,
    ).toBe("conv2d.direct");
  });
});

const fmtShapes = (xs: Shape4, ws: Shape4) => `x [${xs}] w [${ws}]`;

/** The first index where a and b differ bitwise (-1: none; lengths must match). vitest's toEqual is slow on millions of floats. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length),
    ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) return i;
  return -1;
}
