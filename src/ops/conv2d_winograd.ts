// conv2d.winograd: the Winograd F(2x2, 3x3) convolution kernels (assembly/conv2d_winograd.ts: 2.25x
// fewer multiply-adds, run as 16 GEMMs per block of output tiles), all three passes, on one thread
// or split over the engine's pool. An entry of the algorithm registry (src/ops/conv2d_algorithms.ts).
import { partsFor, threadsFor } from "../threads/parallel.js";
import { splitRange } from "../threads/partition.js";
import { type ConvAlgorithm, type ConvGeometry, type ConvPass, type ConvTarget, convParams, convWork } from "./conv2d_geometry.js";
import { CONV_THREADED_KERNELS } from "./conv2d_kernels.js";

const KERNELS = {
  forward: "conv2d_winograd_f32_forward",
  backward_input: "conv2d_winograd_f32_backward_input",
  backward_filter: "conv2d_winograd_f32_backward_filter",
} as const;

/** Rows of taps the input gradient's filter transform gathers at a time (assembly/conv2d_winograd.ts). */
const GATHER_ROWS = 16;

const up4 = (v: number) => (v + 3) & ~3;

/**
 * The transform-domain sizes of `pass` (assembly/conv2d_winograd.ts, readGeometryWinograd):
 * backward_input is the convolution dy -> dx. Floats of the shared transformed filter U and of one
 * part's block of V and M; output tiles (2x2 pixels) and the tiles of one block.
 */
export function winogradSizes(pass: ConvPass, g: ConvGeometry): { tiles: number; block: number; filterFloats: number; partFloats: number } {
  const swap = pass === "backward_input";
  const ic = swap ? g.oc : g.c,
    oc = swap ? g.c : g.oc,
    oh = swap ? g.h : g.oh,
    ow = swap ? g.w : g.ow;
  const icp = up4(ic),
    ocp = up4(oc);
  const tiles = g.n * Math.ceil(oh / 2) * Math.ceil(ow / 2);
  const block = Math.min(tiles, Math.max(32, Math.floor(8192 / (icp + ocp)) & ~3));
  const vs = block * icp + 16,
    ms = block * ocp + 16;
  return { tiles, block, filterFloats: 16 * (icp * ocp + 16), partFloats: Math.max(16 * (vs + ms), swap ? 9 * GATHER_ROWS * oc : 0) };
}

/**
 * The parts a call on `threads` threads is cut into (none: one call). Forward and backward_input
 * split the output tiles: two parts a thread at whole tile blocks, or with fewer blocks than parts
 * (small maps of wide layers: VGG-16's 4x4x512 at 32x32 input, batch 8, is one block of 32 tiles)
 * one part a thread at multiples of 8 tiles; a tile's output depends on its own input patch alone,
 * so any cut gives the same bits. backward_filter splits dw's rows (input channels) at multiples
 * of 16, one part a thread: each part transforms only its channels of x but all of dy (measured
 * ahead of two parts a thread on bench/threads.mjs's 28x28x128 case; sharing one transform of dy
 * between the threads block by block ran slower than one thread, the blocks moving between the
 * cores' caches).
 */
function winogradParts(pass: ConvPass, g: ConvGeometry, threads: number): [number, number][] {
  if (threads <= 1) return [];
  if (pass === "backward_filter") return splitRange(g.c, partsFor(threads, 1), 16);
  const { tiles, block } = winogradSizes(pass, g);
  return tiles >= 2 * threads * block ? splitRange(tiles, partsFor(threads, 2), block) : splitRange(tiles, threads, 8);
}

/** U and every part's block workspace start on a cache line (64 bytes) of their own. */
const LINE_FLOATS = 16;
const upLine = (floats: number) => Math.ceil(floats / LINE_FLOATS) * LINE_FLOATS;

/** 3x3 taps, strides 1, dilations 1, one group, a SIMD build (the scalar build's kernels trap). */
const supports = (g: ConvGeometry, target: ConvTarget): boolean =>
  target.build !== "scalar" && g.kh === 3 && g.kw === 3 && g.sh === 1 && g.sw === 1 && g.dh === 1 && g.dw === 1 && g.groups === 1;

export const WINOGRAD: ConvAlgorithm = {
  name: "conv2d.winograd",
  threadedKernels: CONV_THREADED_KERNELS["conv2d.winograd"],
  passes: ["forward", "backward_input", "backward_filter"],
  supports: (_pass, g, target) => supports(g, target),
  /**
   * Measured against the direct kernels (3x3 pad 1, batch 1): ahead in every pass from 14x14x512
   * to 112x112x64. The filter transform costs the same whatever the image size, so few 2x2 output
   * tiles lose: 2x2 and 3x3 outputs (1 and 4 tiles), and backward_input, which also flips and
   * transposes the weights, up to 16 tiles (7x7 images; 14x14, 49 tiles, wins). Images of 16
   * pixels or fewer are the exception: there the direct kernels spend most of their work on
   * padding, and backward_input with 8 or more tiles wins. Few channels leave the GEMMs too small
   * (conv2d.small is faster there).
   * Wide layers (C * OC >= 512 * 512): the transformed filter (16 * C * OC floats, 16 MB), written
   * and read on every call, costs about as much as 50 tiles' multiplies. Winograd runs 16 products
   * per 2x2 tile, im2col 9 per output pixel (padding included), so Winograd only when
   * 16 * (tiles + 50) < 9 * pixels: measured against im2col, the two meet between batches 4 and 6
   * of 7x7x512, and Winograd leads at 14x14x512. At 256 -> 256 (4 MB, cached) Winograd wins even
   * with 16 tiles. Cases: scripts/bench-conv.mjs --case winograd.
   */
  eligible(pass, g, target) {
    if (!supports(g, target) || g.c < 8 || g.oc < 8) return false;
    const outTiles = g.n * Math.ceil(g.oh / 2) * Math.ceil(g.ow / 2);
    if (g.c * g.oc >= 1 << 18 && 16 * (outTiles + 50) >= 9 * g.n * g.oh * g.ow) return false;
    if (pass !== "backward_input") return outTiles >= 8;
    const tiles = g.n * Math.ceil(g.h / 2) * Math.ceil(g.w / 2);
    return tiles >= 32 || (tiles >= 8 && g.h * g.w <= 16);
  },
  /** The transformed filter U (shared by the parts), then one block workspace per part. */
  workspaceBytes(pass, g, target: ConvTarget) {
    const s = winogradSizes(pass, g);
    const parts = Math.max(1, winogradParts(pass, g, target.threads).length);
    return 4 * (LINE_FLOATS + upLine(s.filterFloats) + upLine(s.partFloats) * parts);
  },
  /**
   * forward (y, x, w) overwrites y; backward_input (dx, dy, w) and backward_filter (dw, dy, x)
   * accumulate. Split forward / backward_input calls first transform the filter (parts with empty
   * tile ranges, U's rows split at multiples of 4), then run disjoint tile ranges with U ready:
   * every element gets the arithmetic of a one-thread call, bit for bit.
   */
  run(e, pass, g, out, a, b, workspace) {
    const kernel = KERNELS[pass];
    const parts = winogradParts(pass, g, threadsFor(e, convWork(g)));
    const s = winogradSizes(pass, g);
    const u = Math.ceil(workspace / 64) * 64;
    const ws = u + 4 * upLine(s.filterFloats),
      stride = 4 * upLine(s.partFloats);
    if (parts.length <= 1) {
      e.kernels[kernel](out, a, b, u, ws, convParams(e, g));
    } else if (pass === "backward_filter") {
      e.parallel(
        kernel,
        parts.map(([rowBegin, rowEnd], t) => [out, a, b, u, ws + stride * t, convParams(e, g, t, { rowBegin, rowEnd })]),
      );
    } else {
      const filterRows = splitRange(pass === "forward" ? g.c : g.oc, parts.length, 4);
      e.parallel(
        kernel,
        filterRows.map(([ocBegin, ocEnd], t) => [out, a, b, u, ws + stride * t, convParams(e, g, t, { rowBegin: 0, rowEnd: 0, ocBegin, ocEnd })]),
      );
      e.parallel(
        kernel,
        parts.map(([rowBegin, rowEnd], t) => [out, a, b, u, ws + stride * t, convParams(e, g, t, { rowBegin, rowEnd, ready: true })]),
      );
    }
  },
};
