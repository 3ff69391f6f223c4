// Threaded kernel calls shared by the op wrappers: each splits one call into per-thread parts
// (see partition.ts) when the engine has threads and the call is big enough, else makes one call.
import type { Engine } from "../engine.js";
import { withWorkspace } from "../ops/common.js";
import { type BuildName, isRelaxedBuild } from "../runtime.js";
import { splitRange } from "./partition.js";
import { MAX_PARTS, type ThreadedKernel } from "./protocol.js";

/** Threads worth using for `work` multiply-adds on engine e (1 if threading would not pay). */
export function threadsFor(e: Engine, work: number): number {
  return e.threads > 1 && work >= e.minParallelWork ? e.threads : 1;
}

/**
 * Parts to cut a call on `threads` threads into: `perThread` each, as the pool hands parts out one
 * at a time to whichever thread is free, so a thread slowed by other work (a shared core) takes
 * fewer parts instead of holding the whole call up.
 */
export function partsFor(threads: number, perThread = 4): number {
  return threads <= 1 ? 1 : Math.min(MAX_PARTS, threads * perThread);
}

/** Largest A (floats, 16 MB) gemmThreaded copies transposed for a product of A^T. */
const TRANSPOSED_A_MAX_FLOATS = 1 << 22;

/**
 * Which operand gemmThreaded copies transposed into its scratch before the product, by shape:
 * - A . B^T with k up to 512 and 256+ rows: B transposed, then the panel kernel, which beats
 *   gemm_f32's dot products there (they meet around k = 1024; with few rows the panel re-reads a
 *   wide B: scripts/bench-gemm.mjs --case "NT transposed", --case "NT im2col");
 * - A^T . B with A's k steps a multiple of 2 KB apart (m = 512, 1024, 2048: filter gradients of
 *   wide pointwise convs and dense layers): the 3 rows of a register tile share L1 sets for every
 *   k and evict each other. A transposed once makes it NN, the same arithmetic in the same order
 *   (from m = 512; at m = 256 it does not pay: scripts/bench-gemm.mjs --case TN).
 */
function transposedOperand(m: number, n: number, k: number, transA: boolean, transB: boolean): "a" | "b" | undefined {
  if (transB && !transA && m >= 256 && n >= 8 && k >= 4 && k <= 512) return "b";
  if (transA && !transB && m % 512 === 0 && n >= 8 && k >= 4 && m * k <= TRANSPOSED_A_MAX_FLOATS) return "a";
  return undefined;
}

/**
 * Floats of scratch gemmThreaded needs for this product (0 for none). With `kUpTo`, the most any
 * product of these m, n and a k' <= k needs (callers that run several such products on one scratch).
 */
export function gemmScratchFloats(m: number, n: number, k: number, transA: boolean, transB: boolean, kUpTo = false): number {
  if (!kUpTo) {
    const op = transposedOperand(m, n, k, transA, transB);
    return op === "b" ? n * k : op === "a" ? m * k : 0;
  }
  if (k < 4) return 0;
  if (transposedOperand(m, n, Math.min(k, 512), transA, transB) === "b") return n * Math.min(k, 512);
  const kMax = Math.min(k, Math.floor(TRANSPOSED_A_MAX_FLOATS / Math.max(m, 1)));
  return kMax >= 4 && transposedOperand(m, n, kMax, transA, transB) === "a" ? m * kMax : 0;
}

/**
 * The multiple C's column blocks start at so that a product split into them gives the bits of one
 * whole call (gemm_f32_block, gemm_f32_strided): 8, the register tiles' width; but 24 when the
 * product takes gemm's dot-product path (`dots`: A . B^T) in a relaxed build, whose dots take
 * columns 3 at a time before 4 at a time and sum the last n % 3 columns another way
 * (assembly/gemm.ts). Rows split at multiples of 8 in every build.
 */
export function gemmColumnAlign(build: BuildName, dots: boolean): number {
  return dots && isRelaxedBuild(build) ? 24 : 8;
}

/**
 * Whether gemm_f32_block takes its dot-product path (`dots`) for this product: B transposed and A
 * not, after its normalisation (a 1-row A is not transposed; a 1-column B is).
 */
export function gemmBlockTakesDots(m: number, n: number, transA: boolean, transB: boolean): boolean {
  const ta = transA && m !== 1;
  return (transB || n === 1) && !ta;
}

/**
 * gemm_f32 (C (m x n) (+)= op(A) . op(B)) split into a grid of blocks of C (gemmGrid): rows at
 * multiples of 8, columns at gemmColumnAlign's, which keep every element's register tile.
 * Some shapes first copy one operand transposed (see transposedOperand) into `scratch`, a byte
 * address of gemmScratchFloats(m, n, k, transA, transB) floats; without one, such a product
 * allocates the copy from the heap (an OutOfMemoryError when it cannot: the algorithm, and so the
 * bits, never depend on the heap's state).
 */
export function gemmThreaded(
  e: Engine,
  c: number,
  a: number,
  b: number,
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
  accumulate: boolean,
  scratch?: number,
): void {
  const op = transposedOperand(m, n, k, transA, transB);
  if (op !== undefined) {
    const [src, rows, cols] = op === "b" ? [b, n, k] : [a, k, m];
    const run = (t: number) => {
      e.kernels.transpose_f32(t, src, rows, cols);
      if (op === "b") gemmSplit(e, c, a, t, m, n, k, false, false, accumulate);
      else gemmSplit(e, c, t, b, m, n, k, false, false, accumulate);
    };
    if (scratch !== undefined) run(scratch);
    else withWorkspace(e, rows * cols, "gemm transposed operand", run);
    return;
  }
  gemmSplit(e, c, a, b, m, n, k, transA, transB, accumulate);
}

/**
 * The grid of C blocks (row parts x column parts) a product is cut into on `threads` threads: as
 * many 8-row / `colAlign`-column aligned blocks as the shape allows up to partsFor(threads) (equal
 * shares for the threads), and of those grids the one that re-reads the least: each row part reads all of
 * op(B) (k x n) and each column part all of op(A) (m x k). Splitting rows only re-read a wide B
 * once per 8 rows of a short A (ResNet-50's 7x7x512 -> 2048 layers: 49 rows, B 4 MB).
 */
export function gemmGrid(m: number, n: number, threads: number, colAlign = 8): [number, number] {
  const parts = partsFor(threads),
    rowUnits = Math.ceil(m / 8),
    colUnits = Math.ceil(n / colAlign);
  const grids: [number, number][] = [];
  for (let pr = 1; pr <= Math.min(parts, rowUnits); pr++) grids.push([pr, Math.min(Math.floor(parts / pr), colUnits)]);
  const most = Math.max(...grids.map(([pr, pc]) => pr * pc));
  let best: [number, number] = [1, 1],
    bestCost = Infinity;
  for (const [pr, pc] of grids) {
    const cost = pr * n + pc * m; // floats re-read, over k
    if (pr * pc === most && cost < bestCost) {
      best = [pr, pc];
      bestCost = cost;
    }
  }
  return best;
}

function gemmSplit(e: Engine, c: number, a: number, b: number, m: number, n: number, k: number, transA: boolean, transB: boolean, accumulate: boolean): void {
  const t = threadsFor(e, m * n * Math.max(k, 1));
  const args = [c, a, b, m, n, k, transA ? 1 : 0, transB ? 1 : 0, accumulate ? 1 : 0];
  if (t === 1) {
    e.kernels.gemm_f32(c, a, b, m, n, k, args[6]!, args[7]!, args[8]!);
    return;
  }
  const colAlign = gemmColumnAlign(e.build, gemmBlockTakesDots(m, n, transA, transB));
  const [pr, pc] = gemmGrid(m, n, t, colAlign);
  const rows = splitRange(m, pr, 8),
    cols = splitRange(n, pc, colAlign);
  // a column block's row parts one after another: the threads share that block of B in cache
  e.parallel(
    "gemm_f32_block",
    cols.flatMap(([j0, j1]) => rows.map(([i0, i1]) => [...args, i0, i1, j0, j1])),
  );
}

/**
 * gemm_f32_packed_b (C (m x n) = A (m x k) . B, B packed in strips of 8 columns) split over
 * ranges of strips; every element gets the same bits however the strips are split.
 */
export function densePackedThreaded(e: Engine, c: number, a: number, bp: number, m: number, n: number, k: number): void {
  const strips = Math.ceil(n / 8);
  const t = threadsFor(e, m * n * Math.max(k, 1));
  if (t === 1 || strips < 2) {
    e.kernels.gemm_f32_packed_b(c, a, bp, m, n, k, 0, 0, strips);
    return;
  }
  e.parallel(
    "gemm_f32_packed_b",
    splitRange(strips, partsFor(t)).map(([s0, s1]) => [c, a, bp, m, n, k, 0, s0, s1]),
  );
}

/**
 * y (rows x cols) += b (cols) on every row: bias_f32_forward, split over ranges of rows when the
 * engine has threads and y is large (a conv's output, right after the conv wrote it split the same
 * way). Rows are independent, so the bits do not depend on the split.
 */
export function biasThreaded(e: Engine, y: number, b: number, rows: number, cols: number): void {
  const t = threadsFor(e, rows * cols);
  if (t === 1 || rows < 2) {
    e.kernels.bias_f32_forward(y, b, rows, cols);
    return;
  }
  e.parallel(
    "bias_f32_forward",
    splitRange(rows, partsFor(t)).map(([r0, r1]) => [y + 4 * r0 * cols, b, r1 - r0, cols]),
  );
}

/** Bytes of `parts` part workspaces of `partFloats` floats each (each part 16-byte aligned). */
export function partWorkspaceBytes(partFloats: number, parts: number): number {
  return 16 * Math.ceil(partFloats / 4) * Math.max(parts, 1);
}

/**
 * Runs `kernel` once per range of `ranges` over the engine's threads (one call when there is at
 * most one range), part t with its own workspace of `partFloats` floats at `ws` + t strides
 * (partWorkspaceBytes(partFloats, ranges.length) bytes in all). `args(ws, t, range)` gives part t's
 * arguments (range undefined for the single call).
 */
export function runWithPartWorkspaces(
  e: Engine,
  kernel: ThreadedKernel,
  ws: number,
  partFloats: number,
  ranges: [number, number][],
  args: (ws: number, t: number, range?: [number, number]) => number[],
): void {
  const stride = 16 * Math.ceil(partFloats / 4);
  if (ranges.length <= 1) return (e.kernels[kernel] as (...a: number[]) => void)(...args(ws, 0));
  e.parallel(
    kernel,
    ranges.map((range, t) => args(ws + stride * t, t, range)),
  );
}

const f32Scratch = new Float32Array(1),
  f32BitsScratch = new Int32Array(f32Scratch.buffer);

/** The IEEE-754 bits of x rounded to f32: how threaded calls pass a kernel's f32 arguments. */
export function f32Bits(x: number): number {
  f32Scratch[0] = x;
  return f32BitsScratch[0]!;
}

/**
 * Runs an elementwise kernel's `_bits` form (f32 arguments as f32Bits) over n floats split over the
 * engine's threads, at multiples of 16 elements (a cache line); `args(offsetBytes, count)` gives
 * one part's arguments. Returns false, having done nothing, when one thread should run it (a small
 * n, or no pool): the caller then makes its plain call. Elements are independent, so the bits do
 * not depend on the split.
 */
export function elementwiseThreaded(e: Engine, kernel: ThreadedKernel, n: number, args: (offsetBytes: number, count: number) => number[]): boolean {
  const t = threadsFor(e, n);
  if (t === 1 || n < 32) return false;
  e.parallel(
    kernel,
    splitRange(n, partsFor(t), 16).map(([i0, i1]) => args(4 * i0, i1 - i0)),
  );
  return true;
}
