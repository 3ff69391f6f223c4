// Softmax family over the LAST axis: a tensor of any rank >= 1 is viewed as [rows, cols] with
// cols = its last dimension (NHWC: softmax over channels). Kernels: assembly/softmax.ts.
import { fail, fmtShape, fmtValue } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { checkTensor, engineOf, gradTensor, outputTensor } from "./common.js";
import { sameShape } from "./elementwise.js";

function rowsCols(op: string, arg: string, t: Tensor): [rows: number, cols: number] {
  if (t.rank < 1) fail(op, `${arg} must have rank >= 1 (softmax runs over the last axis), got shape ${fmtShape(t.shape)}`);
  const cols = t.shape[t.rank - 1]!;
  return [cols === 0 ? 0 : t.size / cols, cols];
}

/** y = exp(x - max) / sum(exp(x - max)) over the last axis, any rank >= 1. `out` may be `x`. */
export function softmax(x: Tensor, out?: Tensor): Tensor {
  return rowForward("softmax", x, out, (y, rows, cols) => x.engine.kernels.softmax_f32_forward(y.ptr, x.ptr, rows, cols));
}

/** dx += y * (dy - sum(dy * y)) per row of the last axis, from the saved output y. Returns dx. */
export function softmaxBackward(dy: Tensor, y: Tensor, dx?: Tensor): Tensor {
  return rowBackward("softmaxBackward", dy, y, dx, (g, rows, cols) => y.engine.kernels.softmax_f32_backward(g.ptr, dy.ptr, y.ptr, rows, cols));
}

/** y = x - max - log(sum(exp(x - max))) over the last axis, any rank >= 1. `out` may be `x`. */
export function logSoftmax(x: Tensor, out?: Tensor): Tensor {
  return rowForward("logSoftmax", x, out, (y, rows, cols) => x.engine.kernels.log_softmax_f32_forward(y.ptr, x.ptr, rows, cols));
}

/** dx += dy - exp(y) * sum(dy) per row of the last axis, from the saved output y. Returns dx. */
export function logSoftmaxBackward(dy: Tensor, y: Tensor, dx?: Tensor): Tensor {
  return rowBackward("logSoftmaxBackward", dy, y, dx, (g, rows, cols) => y.engine.kernels.log_softmax_f32_backward(g.ptr, dy.ptr, y.ptr, rows, cols));
}

/** Checks x and out, then runs a row-wise forward kernel over the [rows, cols] view. */
function rowForward(op: string, x: Tensor, out: Tensor | undefined, run: (y: Tensor, rows: number, cols: number) => void): Tensor {
  const e = engineOf(op, x, out);
  checkTensor(op, "x", x);
  const [rows, cols] = rowsCols(op, "x", x);
  const y = outputTensor(op, e, x.shape, out);
  run(y, rows, cols);
  return y;
}

function rowBackward(op: string, dy: Tensor, y: Tensor, dx: Tensor | undefined, run: (g: Tensor, rows: number, cols: number) => void): Tensor {
  const e = engineOf(op, dy, y, dx);
  checkTensor(op, "dy", dy);
  checkTensor(op, "y", y);
  sameShape(op, "dy", dy, "y", y);
  const [rows, cols] = rowsCols(op, "y", y);
  const g = gradTensor(op, "dx", e, y.shape, dx);
  run(g, rows, cols);
  return g;
}

/** Checks logits [B, K] and i32 labels [B] with every label in [0, K). */
function checkLabels(op: string, logits: Tensor, logitsName: string, labels: Tensor): [rows: number, cols: number] {
  checkTensor(op, logitsName, logits, { rank: 2 });
  checkTensor(op, "labels", labels, { rank: 1, dtype: "i32" });
  const [rows, cols] = logits.shape as [number, number];
  if (labels.shape[0] !== rows) {
    fail(op, `labels ${fmtShape(labels.shape)} must have one label per row of ${logitsName} ${fmtShape(logits.shape)}`);
  }
  const ls = labels.ints;
  for (let b = 0; b < rows; b++) {
    const v = ls[b]!;
    if (v < 0 || v >= cols) fail(op, `labels[${b}] = ${v} is out of range [0, ${cols}) for ${logitsName} ${fmtShape(logits.shape)}`);
  }
  return [rows, cols];
}

/**
 * Fused, stable softmax + cross-entropy: logits [B, K], labels i32 [B] with values in [0, K).
 * Returns the mean over the batch of -log softmax(logits)[b, labels[b]] and probs = softmax(logits)
 * [B, K], which softmaxCrossEntropyBackward needs. `out.probs` may be `logits`.
 */
export function softmaxCrossEntropy(logits: Tensor, labels: Tensor, out: { probs?: Tensor } = {}): { loss: number; probs: Tensor } {
  const op = "softmaxCrossEntropy";
  const e = engineOf(op, logits, labels, out.probs);
  const [rows, cols] = checkLabels(op, logits, "logits", labels);
  if (cols === 0) fail(op, `logits ${fmtShape(logits.shape)} must have at least one class`);
  const probs = outputTensor(op, e, logits.shape, out.probs);
  const total = e.kernels.softmax_cross_entropy_f32_forward(probs.ptr, logits.ptr, labels.ptr, rows, cols);
  return { loss: rows === 0 ? 0 : total / rows, probs };
}

/**
 * dlogits += scale * (probs - onehot(labels)), probs [B, K] from softmaxCrossEntropy, labels i32 [B].
 * scale defaults to 1 / B (the gradient of the batch-mean loss). Returns dlogits.
 */
export function softmaxCrossEntropyBackward(probs: Tensor, labels: Tensor, scale?: number, dlogits?: Tensor): Tensor {
  const op = "softmaxCrossEntropyBackward";
  const e = engineOf(op, probs, labels, dlogits);
  const [rows, cols] = checkLabels(op, probs, "probs", labels);
  const s = scale ?? (rows === 0 ? 1 : 1 / rows);
  if (typeof s !== "number" || !Number.isFinite(s)) fail(op, `scale must be a finite number, got ${fmtValue(s)}`);
  const g = gradTensor(op, "dlogits", e, probs.shape, dlogits);
  e.kernels.softmax_cross_entropy_f32_backward(g.ptr, probs.ptr, labels.ptr, s, rows, cols);
  return g;
}
