// Loss functions: forward returns the batch-mean loss as a number; backward ACCUMULATES
// scale * d(sum of per-item losses)/d(input) into a gradient (scale defaults to the mean's 1/count).
// Kernels: assembly/loss.ts. Softmax cross-entropy (fused, stable) is in ops/softmax.ts and is
// re-exported here so every loss is found in one place.
import { checkFinite, fail, fmtShape } from "../errors.js";
import { checkOptions, checkTensor, engineOf, gradTensor } from "../ops/common.js";
import { sameShape } from "../ops/elementwise.js";
import type { Tensor } from "../tensor.js";

export { softmaxCrossEntropy, softmaxCrossEntropyBackward } from "../ops/softmax.js";

/** Mean over ALL elements of (pred - target)^2; pred and target of any equal shape. */
export function mseLoss(pred: Tensor, target: Tensor): number {
  const op = "mseLoss";
  const e = engineOf(op, pred, target);
  checkTensor(op, "pred", pred);
  checkTensor(op, "target", target);
  sameShape(op, "pred", pred, "target", target);
  const n = pred.size;
  return n === 0 ? 0 : e.kernels.mse_f32_forward(pred.ptr, target.ptr, n) / n;
}

/**
 * dpred += scale * 2 * (pred - target). scale defaults to 1 / pred.size (the gradient of mseLoss).
 * Returns dpred (new and zeroed unless given).
 */
export function mseLossBackward(pred: Tensor, target: Tensor, scale?: number, dpred?: Tensor): Tensor {
  const op = "mseLossBackward";
  const e = engineOf(op, pred, target, dpred);
  checkTensor(op, "pred", pred);
  checkTensor(op, "target", target);
  sameShape(op, "pred", pred, "target", target);
  const s = checkFinite(op, "scale", scale ?? (pred.size === 0 ? 1 : 1 / pred.size));
  const g = gradTensor(op, "dpred", e, pred.shape, dpred);
  e.kernels.mse_f32_backward(g.ptr, pred.ptr, target.ptr, s, pred.size);
  return g;
}

/** Options of multiclassHingeLoss and its backward. */
export interface HingeOptions {
  /** The margin Delta in max(0, s_j - s_y + Delta); default 1. */
  margin?: number;
}

function checkScoresLabels(op: string, scores: Tensor, labels: Tensor): [rows: number, cols: number] {
  checkTensor(op, "scores", scores, { rank: 2 });
  checkTensor(op, "labels", labels, { rank: 1, dtype: "i32" });
  const [rows, cols] = scores.shape as [number, number];
  if (labels.shape[0] !== rows) {
    fail(op, `labels ${fmtShape(labels.shape)} must have one label per row of scores ${fmtShape(scores.shape)}`);
  }
  const ls = labels.ints;
  for (let b = 0; b < rows; b++) {
    const v = ls[b]!;
    if (v < 0 || v >= cols) fail(op, `labels[${b}] = ${v} is out of range [0, ${cols}) for scores ${fmtShape(scores.shape)}`);
  }
  return [rows, cols];
}

/**
 * Multiclass hinge loss (Weston-Watkins SVM, as in CS231n): scores [B, K], labels i32 [B] in [0, K).
 * Returns the mean over the batch of sum over j != y of max(0, s_j - s_y + margin).
 */
export function multiclassHingeLoss(scores: Tensor, labels: Tensor, options: HingeOptions = {}): number {
  const op = "multiclassHingeLoss";
  checkOptions(op, "options", options);
  const e = engineOf(op, scores, labels);
  const [rows, cols] = checkScoresLabels(op, scores, labels);
  const margin = checkFinite(op, "margin", options.margin ?? 1);
  return rows === 0 ? 0 : e.kernels.multiclass_hinge_f32_forward(scores.ptr, labels.ptr, margin, rows, cols) / rows;
}

/**
 * Gradient of multiclassHingeLoss: for each row and each j != y with s_j - s_y + margin > 0,
 * dscores[j] += scale and dscores[y] -= scale. scale defaults to 1 / B. Returns dscores.
 */
export function multiclassHingeLossBackward(scores: Tensor, labels: Tensor, options: HingeOptions & { scale?: number } = {}, dscores?: Tensor): Tensor {
  const op = "multiclassHingeLossBackward";
  checkOptions(op, "options", options);
  const e = engineOf(op, scores, labels, dscores);
  const [rows, cols] = checkScoresLabels(op, scores, labels);
  const margin = checkFinite(op, "margin", options.margin ?? 1);
  const s = checkFinite(op, "scale", options.scale ?? (rows === 0 ? 1 : 1 / rows));
  const g = gradTensor(op, "dscores", e, scores.shape, dscores);
  e.kernels.multiclass_hinge_f32_backward(g.ptr, scores.ptr, labels.ptr, margin, s, rows, cols);
  return g;
}

/**
 * Binary cross-entropy on logits, sigmoid fused and stable (PyTorch's BCEWithLogitsLoss): the mean
 * over ALL elements of max(z, 0) - z * t + log(1 + exp(-|z|)), logits z and targets t (in [0, 1])
 * of any equal shape. For one or more independent yes/no outputs per item.
 */
export function binaryCrossEntropy(logits: Tensor, targets: Tensor): number {
  const op = "binaryCrossEntropy";
  const e = engineOf(op, logits, targets);
  checkTensor(op, "logits", logits);
  checkTensor(op, "targets", targets);
  sameShape(op, "logits", logits, "targets", targets);
  const n = logits.size;
  return n === 0 ? 0 : e.kernels.bce_logits_f32_forward(logits.ptr, targets.ptr, n) / n;
}

/**
 * dlogits += scale * (sigmoid(logits) - targets). scale defaults to 1 / logits.size (the gradient of
 * binaryCrossEntropy). Returns dlogits (new and zeroed unless given).
 */
export function binaryCrossEntropyBackward(logits: Tensor, targets: Tensor, scale?: number, dlogits?: Tensor): Tensor {
  const op = "binaryCrossEntropyBackward";
  const e = engineOf(op, logits, targets, dlogits);
  checkTensor(op, "logits", logits);
  checkTensor(op, "targets", targets);
  sameShape(op, "logits", logits, "targets", targets);
  const s = checkFinite(op, "scale", scale ?? (logits.size === 0 ? 1 : 1 / logits.size));
  const g = gradTensor(op, "dlogits", e, logits.shape, dlogits);
  e.kernels.bce_logits_f32_backward(g.ptr, logits.ptr, targets.ptr, s, logits.size);
  return g;
}
