// Local response normalization across channels (ONNX LRN) on channels-last tensors.
// Kernels: assembly/lrn.ts.
import { checkFinite, checkInt, fail, fmtShape } from "../errors.js";
import type { Shape, Tensor } from "../tensor.js";
import { checkTensor, engineOf, gradTensor, outputTensor } from "./common.js";
import type { Engine } from "../engine.js";

/** Options of lrn (ONNX LRN): window size and the constants of the normalisation. */
export interface LrnOptions {
  /**
   * Channels in the window, an integer from 1 to 2^31 - 1: as in ONNX, floor((size-1)/2) channels
   * before and ceil((size-1)/2) after each channel (centred for odd sizes).
   */
  size: number;
  /** Default 1e-4; must be >= 0. */
  alpha?: number;
  /** Default 0.75. 0.5, 0.75 and 1 take a pure-SIMD path; other values use pow per lane. */
  beta?: number;
  /** Default 1; must be > 0 so every denominator is positive. */
  bias?: number;
  /** Scratch of at least lrnWorkspaceBytes(x.shape) bytes (this engine's): the call then allocates none. */
  workspace?: Tensor;
}

/** Bytes of workspace lrn and lrnBackward use for x of `xShape` (channels last): 3 floats a channel. */
export function lrnWorkspaceBytes(xShape: Shape): number {
  return 16 * Math.ceil((3 * Math.max(xShape[xShape.length - 1] ?? 1, 1)) / 4);
}

/** Runs `fn` on options.workspace (checked) or on `floats` floats allocated for the call. */
function withLrnWorkspace(op: string, e: Engine, options: LrnOptions, floats: number, fn: (ws: number) => void): void {
  const given = options.workspace;
  if (given !== undefined) {
    checkTensor(op, "options.workspace", given);
    if (given.engine !== e) fail(op, "options.workspace belongs to a different engine");
    if (given.size < floats)
      fail(op, `options.workspace ${fmtShape(given.shape)} has ${4 * given.size} bytes but ${op} needs ${4 * floats} (see lrnWorkspaceBytes)`);
    return fn(given.ptr);
  }
  const ws = e.empty([floats], "f32", `${op} workspace`);
  try {
    fn(ws.ptr);
  } finally {
    ws.dispose();
  }
}

const MAX_I32 = 2 ** 31 - 1;

interface LrnParams {
  rows: number;
  C: number;
  size: number;
  alpha: number;
  beta: number;
  bias: number;
}

function lrnParams(op: string, x: Tensor, options: LrnOptions): LrnParams {
  checkTensor(op, "x", x);
  if (x.rank < 2) fail(op, `x must have rank >= 2 (channels last, e.g. NHWC), got shape ${fmtShape(x.shape)}`);
  if (!options || typeof options !== "object") fail(op, "options must be an object with at least { size }");
  const size = checkInt(op, "size", options.size, 1);
  if (size > MAX_I32) fail(op, `size must be at most ${MAX_I32} (32-bit), got ${size}`);
  const alpha = checkFinite(op, "alpha", options.alpha ?? 1e-4);
  const beta = checkFinite(op, "beta", options.beta ?? 0.75);
  const bias = checkFinite(op, "bias", options.bias ?? 1);
  if (alpha < 0) fail(op, `alpha must be >= 0, got ${alpha}`);
  if (!(bias > 0)) fail(op, `bias must be > 0 so the denominator stays positive, got ${bias}`);
  const C = x.shape[x.rank - 1]!;
  if (x.size > MAX_I32) fail(op, `x ${fmtShape(x.shape)} has more than 2^31-1 elements`);
  return { rows: C === 0 ? 0 : x.size / C, C, size, alpha, beta, bias };
}

/**
 * ONNX LRN across channels: y = x / (bias + alpha / size * square_sum)^beta, square_sum over the
 * channels [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to [0, C). x: [..., C] (NHWC);
 * y has x's shape; `out` may be x (in place). The time does not grow with sizes above 2C.
 */
export function lrn(x: Tensor, options: LrnOptions, out?: Tensor): Tensor {
  const op = "lrn";
  const e = engineOf(op, x, out);
  const p = lrnParams(op, x, options);
  const y = outputTensor(op, e, x.shape, out);
  withLrnWorkspace(op, e, options, Math.max(p.C, 1), (ws) => e.kernels.lrn_f32_forward(y.ptr, x.ptr, ws, p.rows, p.C, p.size, p.alpha, p.beta, p.bias));
  return y;
}

/**
 * Gradient of lrn. dy, x, y: [..., C] with y = lrn(x, options) (the denominators are recomputed
 * from x per pixel). Accumulates into dx (x's shape) when given, else a new zeroed one; returns it.
 */
export function lrnBackward(dy: Tensor, x: Tensor, y: Tensor, options: LrnOptions, dx?: Tensor): Tensor {
  const op = "lrnBackward";
  const e = engineOf(op, dy, x, y, dx);
  const p = lrnParams(op, x, options);
  for (const [name, t] of [
    ["dy", dy],
    ["y", y],
  ] as const) {
    checkTensor(op, name, t);
    if (t.rank !== x.rank || t.shape.some((d, i) => d !== x.shape[i])) {
      fail(op, `${name} ${fmtShape(t.shape)} and x ${fmtShape(x.shape)} must have the same shape`);
    }
  }
  const g = gradTensor(op, "dx", e, x.shape, dx);
  if (g.ptr === dy.ptr || g.ptr === x.ptr || g.ptr === y.ptr) fail(op, "dx must not alias dy, x or y");
  withLrnWorkspace(op, e, options, Math.max(3 * p.C, 1), (ws) =>
    e.kernels.lrn_f32_backward(g.ptr, dy.ptr, x.ptr, y.ptr, ws, p.rows, p.C, p.size, p.alpha, p.beta, p.bias),
  );
  return g;
}
