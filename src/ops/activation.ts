// Point-wise activations: leaky ReLU, PRelu, sigmoid, tanh. Kernels: assembly/activation.ts.
// (ReLU is in ops/elementwise.ts.) Every function takes tensors of any shape; PRelu's slope runs
// over the channel (last, NHWC) axis. Forward outputs may be the input (in place).
import { checkFinite, fail, fmtShape } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { checkOptions, checkTensor, engineOf, gradTensor, outputTensor } from "./common.js";
import { sameShape } from "./elementwise.js";

/** y = x >= 0 ? x : alpha * x, any shape (ONNX LeakyRelu; alpha defaults to 0.01). `out` may be `x`. */
export function leakyRelu(x: Tensor, alpha = 0.01, out?: Tensor): Tensor {
  const op = "leakyRelu";
  const e = engineOf(op, x, out);
  checkTensor(op, "x", x);
  checkFinite(op, "alpha", alpha);
  const y = outputTensor(op, e, x.shape, out);
  e.kernels.leaky_relu_f32_forward(y.ptr, x.ptr, alpha, x.size);
  return y;
}

/** dx += dy * (x > 0 ? 1 : alpha), from the forward INPUT x (same shape as dy). Returns dx. */
export function leakyReluBackward(dy: Tensor, x: Tensor, alpha = 0.01, dx?: Tensor): Tensor {
  const op = "leakyReluBackward";
  const e = engineOf(op, dy, x, dx);
  checkTensor(op, "dy", dy);
  checkTensor(op, "x", x);
  sameShape(op, "dy", dy, "x", x);
  checkFinite(op, "alpha", alpha);
  const g = gradTensor(op, "dx", e, x.shape, dx);
  e.kernels.leaky_relu_f32_backward(g.ptr, dy.ptr, x.ptr, alpha, x.size);
  return g;
}

/** Checks a PRelu slope: [C] with C = x's last dimension (one slope per channel), or [1] (shared).
 *  Returns true for a shared slope. */
function checkSlope(op: string, x: Tensor, slope: Tensor): boolean {
  checkTensor(op, "slope", slope);
  if (x.rank < 1) fail(op, `x must have rank >= 1 (channels last), got shape ${fmtShape(x.shape)}`);
  const c = x.shape[x.rank - 1]!;
  if (slope.rank === 1 && slope.shape[0] === c) return c === 1;
  if (slope.rank === 1 && slope.shape[0] === 1) return true;
  fail(op, `slope must have shape [${c}] (one per channel, the last axis of x ${fmtShape(x.shape)}) or [1], got ${fmtShape(slope.shape)}`);
}

/** y = x >= 0 ? x : slope * x (ONNX PRelu, NHWC): x [..., C], slope [C] per channel or [1]. `out` may be `x`. */
export function prelu(x: Tensor, slope: Tensor, out?: Tensor): Tensor {
  const op = "prelu";
  const e = engineOf(op, x, slope, out);
  checkTensor(op, "x", x);
  const shared = checkSlope(op, x, slope);
  const y = outputTensor(op, e, x.shape, out);
  if (shared) e.kernels.prelu_shared_f32_forward(y.ptr, x.ptr, slope.ptr, x.size);
  else {
    const cols = x.shape[x.rank - 1]!;
    e.kernels.prelu_f32_forward(y.ptr, x.ptr, slope.ptr, cols === 0 ? 0 : x.size / cols, cols);
  }
  return y;
}

/**
 * PRelu gradients from the forward input x [..., C] and slope ([C] or [1]):
 * dx += dy * (x > 0 ? 1 : slope), dslope += sum of dy * min(x, 0) over every axis the slope is
 * broadcast over. Accumulates into the given tensors, else into new zeroed ones.
 */
export function preluBackward(dy: Tensor, x: Tensor, slope: Tensor, grads: { dx?: Tensor; dslope?: Tensor } = {}): { dx: Tensor; dslope: Tensor } {
  const op = "preluBackward";
  grads = checkOptions(op, "grads", grads);
  const e = engineOf(op, dy, x, slope, grads.dx, grads.dslope);
  checkTensor(op, "dy", dy);
  checkTensor(op, "x", x);
  sameShape(op, "dy", dy, "x", x);
  const shared = checkSlope(op, x, slope);
  const dx = gradTensor(op, "dx", e, x.shape, grads.dx);
  const dslope = gradTensor(op, "dslope", e, slope.shape, grads.dslope);
  if (shared) e.kernels.prelu_shared_f32_backward(dx.ptr, dslope.ptr, dy.ptr, x.ptr, slope.ptr, x.size);
  else {
    const cols = x.shape[x.rank - 1]!;
    e.kernels.prelu_f32_backward(dx.ptr, dslope.ptr, dy.ptr, x.ptr, slope.ptr, cols === 0 ? 0 : x.size / cols, cols);
  }
  return { dx, dslope };
}

/** y = 1 / (1 + exp(-x)), any shape; finite and stable for any finite x. `out` may be `x`. */
export function sigmoid(x: Tensor, out?: Tensor): Tensor {
  return pointwiseForward("sigmoid", x, out, (y) => x.engine.kernels.sigmoid_f32_forward(y.ptr, x.ptr, x.size));
}

/** dx += dy * y * (1 - y), from the saved forward OUTPUT y. Returns dx. */
export function sigmoidBackward(dy: Tensor, y: Tensor, dx?: Tensor): Tensor {
  return pointwiseBackward("sigmoidBackward", dy, y, dx, (g) => y.engine.kernels.sigmoid_f32_backward(g.ptr, dy.ptr, y.ptr, y.size));
}

/** y = tanh(x), any shape; finite and stable for any finite x. `out` may be `x`. */
export function tanh(x: Tensor, out?: Tensor): Tensor {
  return pointwiseForward("tanh", x, out, (y) => x.engine.kernels.tanh_f32_forward(y.ptr, x.ptr, x.size));
}

/** dx += dy * (1 - y^2), from the saved forward OUTPUT y. Returns dx. */
export function tanhBackward(dy: Tensor, y: Tensor, dx?: Tensor): Tensor {
  return pointwiseBackward("tanhBackward", dy, y, dx, (g) => y.engine.kernels.tanh_f32_backward(g.ptr, dy.ptr, y.ptr, y.size));
}

/** Checks x and out, then runs an element-wise forward kernel into y (which may be x). */
function pointwiseForward(op: string, x: Tensor, out: Tensor | undefined, run: (y: Tensor) => void): Tensor {
  const e = engineOf(op, x, out);
  checkTensor(op, "x", x);
  const y = outputTensor(op, e, x.shape, out);
  run(y);
  return y;
}

function pointwiseBackward(op: string, dy: Tensor, y: Tensor, dx: Tensor | undefined, run: (g: Tensor) => void): Tensor {
  const e = engineOf(op, dy, y, dx);
  checkTensor(op, "dy", dy);
  checkTensor(op, "y", y);
  sameShape(op, "dy", dy, "y", y);
  const g = gradTensor(op, "dx", e, y.shape, dx);
  run(g);
  return g;
}
