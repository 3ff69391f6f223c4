// Dropout (inverted: kept values are scaled by 1 / (1 - rate) in training, so inference is the
// identity). Kernels: assembly/dropout.ts. Any shape.
import { checkFinite, fail, fmtShape, fmtValue } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { checkTensor, engineOf, gradTensor, outputTensor } from "./common.js";
import { sameShape } from "./elementwise.js";

/** Options of dropout and dropoutBackward. */
export interface DropoutOptions {
  /** Probability of dropping an element, in [0, 1). */
  rate: number;
  /** Training mode draws a mask; inference (the default) is the identity. */
  training?: boolean;
  /** Integer in [0, 2^32): the same seed gives the same mask in every build. Training only;
   *  defaults to a fresh random seed per call. Use a different seed for every step. */
  seed?: number;
}

function checkRate(op: string, options: DropoutOptions): number {
  if (!options || typeof options !== "object") fail(op, `options must be an object {rate, training?, seed?}, got ${fmtValue(options)}`);
  const rate = checkFinite(op, "rate", options.rate);
  if (rate < 0 || rate >= 1) fail(op, `rate must be in [0, 1), got ${rate}`);
  return rate;
}

/**
 * Dropout, any shape. Training: mask is an f32 tensor of x's shape holding 0 (dropped) or 1 (kept),
 * drawn from a counter-based hash of (seed, element index), and y = x * mask / (1 - rate).
 * Inference: y is a copy of x (into `out` if given; `out` may be `x`) and mask is null.
 */
export function dropout(x: Tensor, options: DropoutOptions, out?: Tensor): { y: Tensor; mask: Tensor | null } {
  const op = "dropout";
  const e = engineOf(op, x, out);
  checkTensor(op, "x", x);
  const rate = checkRate(op, options);
  if (!options.training) {
    const y = outputTensor(op, e, x.shape, out);
    e.kernels.dropout_f32_inference(y.ptr, x.ptr, x.size);
    return { y, mask: null };
  }
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) fail(op, `seed must be an integer in [0, 2^32), got ${fmtValue(seed)}`);
  const y = outputTensor(op, e, x.shape, out);
  const mask = e.empty(x.shape, "f32", "dropout mask");
  e.kernels.dropout_f32_training(y.ptr, mask.ptr, x.ptr, rate, seed, x.size);
  return { y, mask };
}

/**
 * dx += dy * mask / (1 - rate) with the mask dropout returned (training), or dx += dy when
 * `options.training` is false (mask may then be null). Returns dx.
 */
export function dropoutBackward(dy: Tensor, mask: Tensor | null, options: DropoutOptions, dx?: Tensor): Tensor {
  const op = "dropoutBackward";
  const e = engineOf(op, dy, mask, dx);
  checkTensor(op, "dy", dy);
  const rate = checkRate(op, options);
  const g = gradTensor(op, "dx", e, dy.shape, dx);
  if (!options.training) {
    e.kernels.axpy_f32(g.ptr, dy.ptr, 1, dy.size);
    return g;
  }
  if (!mask) fail(op, `training mode needs the mask that dropout returned for dy ${fmtShape(dy.shape)}, got ${mask}`);
  checkTensor(op, "mask", mask);
  sameShape(op, "dy", dy, "mask", mask);
  e.kernels.dropout_f32_backward(g.ptr, dy.ptr, mask.ptr, 1 / (1 - rate), dy.size);
  return g;
}
