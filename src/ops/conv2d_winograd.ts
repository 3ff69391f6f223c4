// Dispatch to the Winograd F(2x2, 3x3) convolution kernels (assembly/conv2d_winograd.ts: 2.25x fewer
// multiply-adds, run as 16 GEMMs per block of output tiles) from src/ops/conv2d.ts's runForward /
// runBackwardInput / runBackwardFilter, on one thread or split over the engine's pool.
import type { Engine } from "../engine.js";
import { partsFor } from "../threads/parallel.js";
import { splitRange } from "../threads/partition.js";
import { tryEmpty } from "./common.js";

/** The conv geometry fields the decision reads (src/ops/conv2d.ts's Geometry). */
export interface WinogradGeometry {
  n: number;
  h: number;
  w: number;
  c: number;
  oh: number;
  ow: number;
  oc: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  groups: number;
}

export const WINOGRAD_FORWARD = 0,
  WINOGRAD_BACKWARD_INPUT = 1,
  WINOGRAD_BACKWARD_FILTER = 2;
export type WinogradPass = typeof WINOGRAD_FORWARD | typeof WINOGRAD_BACKWARD_INPUT | typeof WINOGRAD_BACKWARD_FILTER;

/** "auto" (default): by shape; "always": every eligible conv; "never": none. For tests and benchmarks. */
export const winogradPolicy: { mode: "auto" | "always" | "never" } = { mode: "auto" };

/**
 * True when `pass` of the conv `g` runs on the Winograd kernels: 3x3 taps, strides 1, dilations 1,
 * one group, in a SIMD build (the scalar build keeps direct convolution), by shape only (so an
 * engine with threads decides as one without).
 */
export function useWinograd(e: Engine, g: WinogradGeometry, pass: WinogradPass): boolean {
  if (winogradPolicy.mode === "never" || e.build === "scalar") return false;
  if (g.kh !== 3 || g.kw !== 3 || g.sh !== 1 || g.sw !== 1 || g.dh !== 1 || g.dw !== 1 || g.groups !== 1) return false;
  if (winogradPolicy.mode === "always") return true;
  // Measured against the direct kernels on this project's 2-core machines (3x3 pad 1, batch 1):
  // 1.7x-2.1x from 14x14x512 to 112x112x64 in every pass. The filter transform costs the same
  // whatever the image size, so few 2x2 output tiles lose: 2x2 and 3x3 outputs (1 and 4 tiles) run
  // 0.7x-0.9x, and backward_input, which also flips and transposes the weights, loses up to 16
  // tiles of 7x7 images (7x7x512: 0.8x; 14x14x512, 49 tiles: 1.35x). Images of 16 pixels or fewer
  // are the exception: there the direct kernels spend most of their work on padding, and
  // backward_input with 8 or more tiles wins (a batch of 8 2x2x512: 2.6x, of 2 4x4x512: 1.3x).
  // Few channels leave the GEMMs too small (conv2d_small.ts is faster there).
  if (g.c < 8 || g.oc < 8) return false;
  // Wide layers (C * OC >= 512 * 512): the transformed filter (16 * C * OC floats, 16 MB), written
  // and read on every call, costs about as much as 50 tiles' multiplies. Winograd runs 16 products
  // per 2x2 tile, im2col 9 per output pixel (padding included), so Winograd only when
  // 16 * (tiles + 50) < 9 * pixels. Measured, ms forward / input grad / filter grad, Winograd vs
  // im2col: 7x7x512 batch 1 9.1 / 12.3 / 10.7 vs 7.6 / 6.1 / 6.4; batch 3 20.3 / 23.2 / 21.5 vs 18.4
  // / 17.7 / 18.4; batch 4 25.4 / 27.6 / 25.8 vs 25.7 / 23.8 / 25.0; batch 6 35.8 / 38.6 / 36.1 vs
  // 36.5 / 40.2 / 38.8; 14x14x512 batch 1 21.9 / 24.0 / 22.0 vs 25.5 / 24.0 / 24.1; 4x4x512 batch 2
  // input grad 11.4 vs 4.4. At 256 -> 256 (4 MB, cached) Winograd wins even with 16 tiles.
  const outTiles = g.n * Math.ceil(g.oh / 2) * Math.ceil(g.ow / 2);
  if (g.c * g.oc >= 1 << 18 && 16 * (outTiles + 50) >= 9 * g.n * g.oh * g.ow) return false;
  if (pass !== WINOGRAD_BACKWARD_INPUT) return outTiles >= 8;
  const tiles = g.n * Math.ceil(g.h / 2) * Math.ceil(g.w / 2);
  return tiles >= 32 || (tiles >= 8 && g.h * g.w <= 16);
}

/** A work part of one kernel call, as src/ops/conv2d.ts's geometry block carries it. */
export interface WinogradPart {
  /** Output tiles (forward, backward_input) or input channels (backward_filter). */
  rowBegin?: number;
  rowEnd?: number;
  /** Without wtReady: the rows of U to transform first (the pass's input channels), a multiple of 4 where a part starts. */
  ocBegin?: number;
  ocEnd?: number;
  wtReady?: boolean;
}

/**
 * Runs one pass on the Winograd kernels over `threads` threads, with workspaces from the heap.
 * forward: (y, x, w) overwrites y; backward_input: (dx, dy, w) and backward_filter: (dw, dy, x)
 * accumulate. `geometry(p, part)` writes part p's geometry block (with its range) and returns its
 * address. Forward and backward_input split the output tiles at multiples of the kernel's tile
 * block (after parts with empty tile ranges have transformed the filter, split by U's rows);
 * backward_filter splits the input channels (dw's rows) at multiples of 16: every element gets the
 * arithmetic of a one-thread call, bit for bit.
 * Returns false, having done nothing, when the heap cannot hold the transformed filter and one
 * block's workspace (16 * C * OC floats and more: the caller then runs the direct kernels); with
 * room for one thread's workspace only, runs on one thread.
 */
export function runWinograd(
  e: Engine,
  pass: WinogradPass,
  g: WinogradGeometry,
  threads: number,
  geometry: (t: number, part?: WinogradPart) => number,
  out: number,
  a: number,
  b: number,
): boolean {
  const k = e.kernels;
  const geom0 = geometry(0);
  const kernel = (["conv2d_winograd_f32_forward", "conv2d_winograd_f32_backward_input", "conv2d_winograd_f32_backward_filter"] as const)[pass];
  let parts: [number, number][] = [];
  if (threads > 1) {
    // dw by input channels (its rows) at multiples of 16: each part transforms only its channels of
    // x but all of dy, so one part a thread (28x28x128 on 2 threads: 1.70x, against 1.56x with two
    // parts a thread). Sharing one transform of dy between the threads block by block ran slower
    // than one thread: every block's transformed tiles then move between the cores' caches.
    if (pass === WINOGRAD_BACKWARD_FILTER) parts = splitRange(g.c, partsFor(threads, 1), 16);
    else {
      const tiles = k.conv2d_winograd_f32_tiles(geom0, pass),
        block = k.conv2d_winograd_f32_tile_block(geom0, pass);
      // two parts a thread (each has its own block workspace; see partsFor), cut at whole tile
      // blocks; with fewer blocks than parts (small maps of wide layers: VGG-16's 4x4x512 at
      // 32x32 input, batch 8, is one block of 32 tiles) one part a thread at multiples of 8 tiles.
      // A tile's output depends on its own input patch alone, so any cut gives the same bits.
      parts = tiles >= 2 * threads * block ? splitRange(tiles, partsFor(threads, 2), block) : splitRange(tiles, threads, 8);
    }
  }
  // u and each part's ws start on a cache line (64 bytes) of their own
  const line = 16,
    up = (floats: number) => Math.ceil(floats / line) * line;
  const wsFloats = up(k.conv2d_winograd_f32_workspace(geom0, pass));
  const wsTotal = (count: number) => wsFloats * count + line;
  const u = tryEmpty(e, k.conv2d_winograd_f32_filter_workspace(geom0, pass) + line, "conv2d Winograd filter workspace");
  if (!u) return false;
  let ws = parts.length > 1 ? tryEmpty(e, wsTotal(parts.length), "conv2d Winograd workspace") : undefined;
  if (!ws) {
    parts = [];
    ws = tryEmpty(e, wsTotal(1), "conv2d Winograd workspace");
  }
  if (!ws) {
    u.dispose();
    return false;
  }
  const uPtr = Math.ceil(u.ptr / 64) * 64,
    wsPtr = Math.ceil(ws.ptr / 64) * 64;
  try {
    if (parts.length <= 1) {
      k[kernel](out, a, b, uPtr, wsPtr, geometry(0));
    } else if (pass === WINOGRAD_BACKWARD_FILTER) {
      e.parallel(
        kernel,
        parts.map(([rowBegin, rowEnd], t) => [out, a, b, uPtr, wsPtr + 4 * wsFloats * t, geometry(t, { rowBegin, rowEnd })]),
      );
    } else {
      // transform the filter (U's rows split at multiples of 4, empty tile ranges), then disjoint tile ranges
      const wsOf = (t: number) => wsPtr + 4 * wsFloats * t;
      const filterRows = splitRange(pass === WINOGRAD_FORWARD ? g.c : g.oc, parts.length, 4);
      e.parallel(
        kernel,
        filterRows.map(([ocBegin, ocEnd], t) => [out, a, b, uPtr, wsOf(t), geometry(t, { rowBegin: 0, rowEnd: 0, ocBegin, ocEnd })]),
      );
      e.parallel(
        kernel,
        parts.map(([rowBegin, rowEnd], t) => [out, a, b, uPtr, wsOf(t), geometry(t, { rowBegin, rowEnd, wtReady: true })]),
      );
    }
  } finally {
    ws.dispose();
    u.dispose();
  }
  return true;
}
