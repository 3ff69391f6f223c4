// Matrix products: fully connected layers, matmul and ONNX Gemm, forward and backward.
// Kernels: gemm_f32, scale_f32, axpy_broadcast_f32, axpy_reduce_f32 in assembly/gemm.ts;
// bias_f32_forward / bias_f32_backward in assembly/elementwise.ts. Matrices are row-major.
import type { Engine } from "../engine.js";
import { checkFinite, fail, fmtShape } from "../errors.js";
import type { Shape, Tensor } from "../tensor.js";
import { checkOptions, checkShape, checkTensor, engineOf, gradTensor, outputTensor } from "./common.js";
import { densePackedThreaded, gemmThreaded } from "../threads/parallel.js";

/** Transpose flags of matmul / gemm: op(A) = transA ? A^T : A, likewise for B. */
export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/** ONNX Gemm attributes: Y = alpha * op(A) . op(B) + beta * C. */
export interface GemmOptions extends MatmulOptions {
  alpha?: number;
  beta?: number;
}

/** Calls the gemm kernel: C (m x n) (+)= op(A) . op(B), over the engine's threads when it pays. */
function gemmKernel(e: Engine, c: Tensor, a: Tensor, b: Tensor, m: number, n: number, k: number, transA: boolean, transB: boolean, accumulate: boolean): void {
  gemmThreaded(e, c.ptr, a.ptr, b.ptr, m, n, k, transA, transB, accumulate);
}

/** The kernel reads its operands while writing C: an output aliasing an operand is an error. */
function checkNoAlias(op: string, out: Tensor | undefined, ...operands: [string, Tensor | null | undefined][]): void {
  if (!out) return;
  for (const [name, t] of operands) if (t && t.ptr === out.ptr) fail(op, `out must not be ${name} (the product cannot run in place)`);
}

/** [rows, features] of a dense input: the first dimension is the batch, the rest are flattened. */
function denseDims(op: string, x: Tensor): [number, number] {
  if (x.rank < 2) fail(op, `x must have rank >= 2 ([batch, ...features]), got shape ${fmtShape(x.shape)}`);
  return [x.shape[0]!, x.shape.slice(1).reduce((p, d) => p * d, 1)];
}

/** Checks w [in, out] (a tensor, or packed weights) against x's flattened feature count; returns out. */
function denseWeights(op: string, x: Tensor, w: Tensor | PackedDenseWeights, inF: number): number {
  const packed = w instanceof PackedDenseWeights;
  if (packed) {
    if (w.isDisposed) fail(op, `packed weights ${fmtShape(w.shape)} were disposed`);
  } else {
    checkTensor(op, "w", w);
    if (w.rank !== 2) fail(op, `w must have rank 2 ([in, out]), got shape ${fmtShape(w.shape)}`);
  }
  if (w.shape[0] !== inF) {
    const what = packed ? `the packed weights ${fmtShape(w.shape)} expect` : `w ${fmtShape(w.shape)} expects`;
    fail(op, `x ${fmtShape(x.shape)} has ${inF} features per row but ${what} ${w.shape[0]} (w is [in, out])`);
  }
  return w.shape[1]!;
}

function checkBias(op: string, b: Tensor, outF: number, wShape: Shape): void {
  checkTensor(op, "b", b);
  if (b.rank !== 1 || b.shape[0] !== outF) {
    fail(op, `b must have shape [${outF}] (w ${fmtShape(wShape)} has ${outF} outputs), got ${fmtShape(b.shape)}`);
  }
}

/**
 * Dense weights [in, out] copied once into strips of 8 output columns (assembly/gemm_packed.ts),
 * for layers whose weights stay fixed over many calls (inference). `dense` reads a strip as one
 * sequential stream, faster at batch 1 than w itself, which it reads in 8-column slices a whole
 * row apart (bench cases "dense 1x4096->1000" and "dense 1x4096->1000 packed"). A snapshot: later changes to w do not reach it (pack again
 * after training steps). It owns wasm memory until `dispose()`.
 */
export class PackedDenseWeights {
  /** [in, out] of the weights it was packed from. */
  readonly shape: readonly [number, number];

  /** @internal */
  constructor(
    /** @internal The strips: packed_b_floats(in, out) floats. */
    readonly strips: Tensor,
    inF: number,
    outF: number,
  ) {
    this.shape = [inF, outF];
  }

  get engine(): Engine {
    return this.strips.engine;
  }

  get isDisposed(): boolean {
    return this.strips.isDisposed;
  }

  /** Frees the packed copy. Using it afterwards is an error. */
  dispose(): void {
    this.strips.dispose();
  }
}

/** Packs dense weights w [in, out] for `dense` (see PackedDenseWeights). */
export function packDenseWeights(w: Tensor): PackedDenseWeights {
  const op = "packDenseWeights";
  checkTensor(op, "w", w);
  if (w.rank !== 2) fail(op, `w must have rank 2 ([in, out]), got shape ${fmtShape(w.shape)}`);
  const [inF, outF] = [w.shape[0]!, w.shape[1]!];
  const k = w.engine.kernels;
  const strips = w.engine.empty([k.packed_b_floats(inF, outF)], "f32", `${op} strips`);
  k.pack_b_f32(strips.ptr, w.ptr, inF, outF);
  return new PackedDenseWeights(strips, inF, outF);
}

/**
 * Fully connected layer: y [B, out] = x [B, in] . w [in, out] + b [out]. x may have any rank >= 2:
 * [B, ...] is flattened row-major to [B, in] (an NHWC feature map feeds a dense layer directly).
 * w may be the tensor or its PackedDenseWeights (faster where the weights are reused, see there).
 */
export function dense(x: Tensor, w: Tensor | PackedDenseWeights, b?: Tensor | null, out?: Tensor): Tensor {
  const op = "dense";
  const packed = w instanceof PackedDenseWeights ? w : null;
  const e = engineOf(op, x, packed ? packed.strips : (w as Tensor), b, out);
  checkTensor(op, "x", x);
  const [rows, inF] = denseDims(op, x);
  const outF = denseWeights(op, x, w, inF);
  if (b) checkBias(op, b, outF, w.shape);
  checkNoAlias(op, out, ["x", x], ["w", packed ? null : (w as Tensor)]);
  const y = outputTensor(op, e, [rows, outF], out);
  if (packed) densePackedThreaded(e, y.ptr, x.ptr, packed.strips.ptr, rows, outF, inF);
  else gemmKernel(e, y, x, w as Tensor, rows, outF, inF, false, false, false);
  if (b) e.kernels.bias_f32_forward(y.ptr, b.ptr, rows, outF);
  return y;
}

/**
 * Gradients of dense from dy [B, out]: dx += dy . w^T (x's shape), dw += x^T . dy ([in, out]),
 * db += column sums of dy ([out], only when wantBias). Given tensors are accumulated into.
 */
export function denseBackward(
  dy: Tensor,
  x: Tensor,
  w: Tensor,
  grads: { dx?: Tensor; dw?: Tensor; db?: Tensor } = {},
  wantBias = true,
): { dx: Tensor; dw: Tensor; db?: Tensor } {
  const op = "denseBackward";
  if (w instanceof PackedDenseWeights) fail(op, "w must be the weight tensor: packed weights serve the forward pass only");
  grads = checkOptions(op, "grads", grads);
  const e = engineOf(op, dy, x, w, grads.dx, grads.dw, grads.db);
  checkTensor(op, "dy", dy);
  checkTensor(op, "x", x);
  const [rows, inF] = denseDims(op, x);
  const outF = denseWeights(op, x, w, inF);
  checkShape(op, "dy", dy, [rows, outF]);
  const dx = gradTensor(op, "dx", e, x.shape, grads.dx);
  const dw = gradTensor(op, "dw", e, w.shape, grads.dw);
  gemmKernel(e, dx, dy, w, rows, inF, outF, false, true, true);
  gemmKernel(e, dw, x, dy, inF, outF, rows, true, false, true);
  if (!wantBias) {
    if (grads.db) fail(op, "db was given but wantBias is false");
    return { dx, dw };
  }
  const db = gradTensor(op, "db", e, [outF], grads.db);
  e.kernels.bias_f32_backward(db.ptr, dy.ptr, rows, outF);
  return { dx, dw, db };
}

/** [m, n, k] of op(A) . op(B), checking ranks and the inner dimensions. */
function productDims(op: string, a: Tensor, b: Tensor, transA: boolean, transB: boolean): [number, number, number] {
  checkTensor(op, "a", a);
  checkTensor(op, "b", b);
  if (a.rank !== 2) fail(op, `a must have rank 2, got shape ${fmtShape(a.shape)}`);
  if (b.rank !== 2) fail(op, `b must have rank 2, got shape ${fmtShape(b.shape)}`);
  const [m, ka] = transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
  const [kb, n] = transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  if (ka !== kb) {
    const what = (name: string, t: boolean) => `${name}${t ? "^T" : ""}`;
    fail(
      op,
      `inner dimensions differ: ${what("a", transA)} with a ${fmtShape(a.shape)} has ${ka} columns but ` +
        `${what("b", transB)} with b ${fmtShape(b.shape)} has ${kb} rows`,
    );
  }
  return [m, n, ka];
}

function flags(op: string, options: MatmulOptions): [boolean, boolean] {
  const { transA = false, transB = false } = checkOptions(op, "options", options);
  if (typeof transA !== "boolean") fail(op, `transA must be a boolean, got ${String(transA)}`);
  if (typeof transB !== "boolean") fail(op, `transB must be a boolean, got ${String(transB)}`);
  return [transA, transB];
}

/** Matrix product op(a) . op(b) -> [m, n]; a is [m, k] ([k, m] if transA), b is [k, n] ([n, k] if transB). */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}, out?: Tensor): Tensor {
  const op = "matmul";
  const e = engineOf(op, a, b, out);
  const [transA, transB] = flags(op, options);
  const [m, n, k] = productDims(op, a, b, transA, transB);
  checkNoAlias(op, out, ["a", a], ["b", b]);
  const y = outputTensor(op, e, [m, n], out);
  gemmKernel(e, y, a, b, m, n, k, transA, transB, false);
  return y;
}

/**
 * Accumulates the gradients of y = op(a) . op(b) from dy [m, n] into da (a's shape) and db
 * (b's shape), transposes included. Given tensors are accumulated into.
 */
export function matmulBackward(
  dy: Tensor,
  a: Tensor,
  b: Tensor,
  options: MatmulOptions = {},
  grads: { da?: Tensor; db?: Tensor } = {},
): { da: Tensor; db: Tensor } {
  const op = "matmulBackward";
  grads = checkOptions(op, "grads", grads);
  const e = engineOf(op, dy, a, b, grads.da, grads.db);
  const [transA, transB] = flags(op, options);
  const [m, n, k] = productDims(op, a, b, transA, transB);
  checkTensor(op, "dy", dy);
  checkShape(op, "dy", dy, [m, n]);
  const da = gradTensor(op, "da", e, a.shape, grads.da);
  const db = gradTensor(op, "db", e, b.shape, grads.db);
  productGrads(e, dy, a, b, da, db, m, n, k, transA, transB);
  return { da, db };
}

/** da += d(op(A) . op(B))/dA . dy and likewise db, for every transpose combination. */
function productGrads(
  e: Engine,
  dy: Tensor,
  a: Tensor,
  b: Tensor,
  da: Tensor,
  db: Tensor,
  m: number,
  n: number,
  k: number,
  transA: boolean,
  transB: boolean,
): void {
  // d op(A) = dy . op(B)^T (m x k); d op(B) = op(A)^T . dy (k x n).
  if (!transA)
    gemmKernel(e, da, dy, b, m, k, n, false, !transB, true); // dA = dy . op(B)^T
  else gemmKernel(e, da, b, dy, k, m, n, transB, true, true); // dA = op(B) . dy^T (k x m)
  if (!transB)
    gemmKernel(e, db, a, dy, k, n, m, !transA, false, true); // dB = op(A)^T . dy
  else gemmKernel(e, db, dy, a, n, k, m, true, transA, true); // dB = dy^T . op(A) (n x k)
}

/** Strides (elements) that broadcast C of shape `cs` (rank <= 2) over [m, n], or an error. */
function broadcastStrides(op: string, c: Tensor, m: number, n: number): [number, number] {
  const cs: Shape = c.shape;
  const ok = cs.length <= 2 && (cs.length < 2 || cs[0] === 1 || cs[0] === m) && (cs.length < 1 || cs[cs.length - 1] === 1 || cs[cs.length - 1] === n);
  if (!ok) {
    fail(op, `c ${fmtShape(cs)} cannot be broadcast to the output [${m},${n}] (allowed: [], [1], [${n}], [1,${n}], [${m},1], [${m},${n}])`);
  }
  const cm = cs.length === 2 ? cs[0]! : 1;
  const cn = cs.length >= 1 ? cs[cs.length - 1]! : 1;
  return [cm === 1 ? 0 : cn, cn === 1 ? 0 : 1];
}

function gemmAttrs(op: string, options: GemmOptions): { alpha: number; beta: number; transA: boolean; transB: boolean } {
  const [transA, transB] = flags(op, options);
  const alpha = checkFinite(op, "alpha", options.alpha ?? 1);
  const beta = checkFinite(op, "beta", options.beta ?? 1);
  return { alpha, beta, transA, transB };
}

/**
 * ONNX Gemm: y [m, n] = alpha * op(a) . op(b) + beta * c, with a [m, k] ([k, m] if transA),
 * b [k, n] ([n, k] if transB) and c optional, broadcast from [], [1], [n], [1, n], [m, 1] or [m, n].
 */
export function gemm(a: Tensor, b: Tensor, c?: Tensor | null, options: GemmOptions = {}, out?: Tensor): Tensor {
  const op = "gemm";
  const e = engineOf(op, a, b, c, out);
  const { alpha, beta, transA, transB } = gemmAttrs(op, options);
  const [m, n, k] = productDims(op, a, b, transA, transB);
  let strides: [number, number] | undefined;
  if (c) {
    checkTensor(op, "c", c);
    strides = broadcastStrides(op, c, m, n);
  }
  checkNoAlias(op, out, ["a", a], ["b", b], ["c", c]);
  const y = outputTensor(op, e, [m, n], out);
  gemmKernel(e, y, a, b, m, n, k, transA, transB, false);
  if (alpha !== 1) e.kernels.scale_f32(y.ptr, alpha, m * n);
  if (c && strides && beta !== 0) e.kernels.axpy_broadcast_f32(y.ptr, c.ptr, beta, m, n, strides[0], strides[1]);
  return y;
}

/**
 * Gradients of gemm from dy [m, n]: da += alpha * d/da, db += alpha * d/db (shapes of a and b,
 * transposes included) and, when c is given, dc += beta * dy summed over c's broadcast dimensions.
 */
export function gemmBackward(
  dy: Tensor,
  a: Tensor,
  b: Tensor,
  c: Tensor | null | undefined,
  options: GemmOptions = {},
  grads: { da?: Tensor; db?: Tensor; dc?: Tensor } = {},
): { da: Tensor; db: Tensor; dc?: Tensor } {
  const op = "gemmBackward";
  grads = checkOptions(op, "grads", grads);
  const e = engineOf(op, dy, a, b, c, grads.da, grads.db, grads.dc);
  const { alpha, beta, transA, transB } = gemmAttrs(op, options);
  const [m, n, k] = productDims(op, a, b, transA, transB);
  checkTensor(op, "dy", dy);
  checkShape(op, "dy", dy, [m, n]);
  let strides: [number, number] | undefined;
  if (c) {
    checkTensor(op, "c", c);
    strides = broadcastStrides(op, c, m, n);
  } else if (grads.dc) fail(op, "dc was given but c is not");
  const da = gradTensor(op, "da", e, a.shape, grads.da);
  const db = gradTensor(op, "db", e, b.shape, grads.db);
  if (alpha === 1) productGrads(e, dy, a, b, da, db, m, n, k, transA, transB);
  else {
    const scaled = e.zeros([m, n]);
    try {
      e.kernels.axpy_f32(scaled.ptr, dy.ptr, alpha, m * n);
      productGrads(e, scaled, a, b, da, db, m, n, k, transA, transB);
    } finally {
      scaled.dispose();
    }
  }
  if (!c || !strides) return { da, db };
  const dc = gradTensor(op, "dc", e, c.shape, grads.dc);
  e.kernels.axpy_reduce_f32(dc.ptr, dy.ptr, beta, m, n, strides[0], strides[1]);
  return { da, db, dc };
}
