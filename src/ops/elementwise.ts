// Element-wise ops: ReLU, residual add, and the accumulation primitives. Kernels: assembly/elementwise.ts.
import { fail, fmtShape, fmtValue } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { checkOptions, checkTensor, engineOf, gradTensor, outputTensor } from "./common.js";

/** y = max(x, 0). `out` may be `x` (in place). */
export function relu(x: Tensor, out?: Tensor): Tensor {
  const e = engineOf("relu", x);
  checkTensor("relu", "x", x);
  const y = outputTensor("relu", e, x.shape, out);
  e.kernels.relu_f32_forward(y.ptr, x.ptr, x.size);
  return y;
}

/** dx += dy where the forward output y > 0. Returns dx (new and zeroed unless given). */
export function reluBackward(dy: Tensor, y: Tensor, dx?: Tensor): Tensor {
  const e = engineOf("reluBackward", dy, y, dx);
  checkTensor("reluBackward", "dy", dy);
  checkTensor("reluBackward", "y", y);
  sameShape("reluBackward", "dy", dy, "y", y);
  const g = gradTensor("reluBackward", "dx", e, y.shape, dx);
  e.kernels.relu_f32_backward(g.ptr, dy.ptr, y.ptr, y.size);
  return g;
}

/** y = a + b, same shapes (a residual connection). */
export function add(a: Tensor, b: Tensor, out?: Tensor): Tensor {
  const e = engineOf("add", a, b);
  checkTensor("add", "a", a);
  checkTensor("add", "b", b);
  sameShape("add", "a", a, "b", b);
  const y = outputTensor("add", e, a.shape, out);
  e.kernels.add_f32_forward(y.ptr, a.ptr, b.ptr, a.size);
  return y;
}

/** Gradients of add: da += dy, db += dy. */
export function addBackward(dy: Tensor, grads: { da?: Tensor; db?: Tensor } = {}): { da: Tensor; db: Tensor } {
  grads = checkOptions("addBackward", "grads", grads);
  const e = engineOf("addBackward", dy, grads.da, grads.db);
  checkTensor("addBackward", "dy", dy);
  const da = gradTensor("addBackward", "da", e, dy.shape, grads.da);
  const db = gradTensor("addBackward", "db", e, dy.shape, grads.db);
  e.kernels.axpy_f32(da.ptr, dy.ptr, 1, dy.size);
  e.kernels.axpy_f32(db.ptr, dy.ptr, 1, dy.size);
  return { da, db };
}

/** y += alpha * x, in place on y (gradient accumulation, SGD steps). Returns y. */
export function axpy(y: Tensor, x: Tensor, alpha: number): Tensor {
  const e = engineOf("axpy", y, x);
  checkTensor("axpy", "y", y);
  checkTensor("axpy", "x", x);
  sameShape("axpy", "y", y, "x", x);
  if (!Number.isFinite(alpha)) fail("axpy", `alpha must be finite, got ${fmtValue(alpha)}`);
  e.kernels.axpy_f32(y.ptr, x.ptr, alpha, x.size);
  return y;
}

/**
 * Gradient of a bias added over the last axis (conv and dense layers): db [C] += the sum of
 * dy [..., C] over every other axis. Returns db (new and zeroed unless given).
 */
export function biasBackward(dy: Tensor, db?: Tensor): Tensor {
  const e = engineOf("biasBackward", dy, db);
  checkTensor("biasBackward", "dy", dy);
  if (dy.rank < 1) fail("biasBackward", "dy must have rank >= 1");
  const c = dy.shape[dy.rank - 1]!;
  const g = gradTensor("biasBackward", "db", e, [c], db);
  e.kernels.bias_f32_backward(g.ptr, dy.ptr, c === 0 ? 0 : dy.size / c, c);
  return g;
}

/** Sets every element of a float32 tensor to `value` (e.g. zeroing gradients). Returns t. */
export function fill(t: Tensor, value: number): Tensor {
  const e = engineOf("fill", t);
  checkTensor("fill", "t", t);
  if (!Number.isFinite(value)) fail("fill", `value must be finite, got ${fmtValue(value)}`);
  e.kernels.fill_f32(t.ptr, value, t.size);
  return t;
}

export function sameShape(op: string, an: string, a: Tensor, bn: string, b: Tensor): void {
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    fail(op, `${an} ${fmtShape(a.shape)} and ${bn} ${fmtShape(b.shape)} must have the same shape`);
  }
}
