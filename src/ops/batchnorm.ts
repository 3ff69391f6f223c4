// Batch normalization (ONNX BatchNormalization) over channels-last tensors: statistics per channel
// (the last axis) over every other axis, so NHWC [N, H, W, C] and dense [B, C] both work.
// Kernels: assembly/batchnorm.ts.
import { checkFinite, fail, fmtShape } from "../errors.js";
import type { Engine } from "../engine.js";
import type { Tensor } from "../tensor.js";
import { checkOptions, checkTensor, engineOf, gradTensor, outputTensor } from "./common.js";

/** Options of batchNormInference (and the base of BatchNormTrainingOptions). */
export interface BatchNormOptions {
  /** Added to the variance before the square root; finite and >= 0. Default 1e-5 (ONNX). */
  epsilon?: number;
}

/** Options of batchNormTraining: epsilon, and the running statistics to update. */
export interface BatchNormTrainingOptions extends BatchNormOptions {
  /** running = momentum * running + (1 - momentum) * batch; in [0, 1]. Default 0.9 (ONNX). */
  momentum?: number;
  /** [C] running mean, updated in place when given. */
  runningMean?: Tensor;
  /** [C] running variance, updated in place when given. */
  runningVar?: Tensor;
  /**
   * false (default, as ONNX): the running variance tracks the biased batch variance (divided by
   * N*H*W), the same one used to normalise. true (as PyTorch): it tracks the unbiased one
   * (divided by N*H*W - 1). Normalisation always uses the biased variance.
   */
  unbiasedRunningVar?: boolean;
}

/** The batch statistics saved by batchNormTraining for batchNormBackward: both [C]. */
export interface BatchNormSaved {
  y: Tensor;
  /** [C] batch mean. */
  mean: Tensor;
  /** [C] 1 / sqrt(biased batch variance + epsilon). */
  invStd: Tensor;
}

/** x: rank >= 2, channels last. Returns [rows, C] with rows = product of the other dims. */
function channelsLast(op: string, x: Tensor): { rows: number; C: number } {
  checkTensor(op, "x", x);
  if (x.rank < 2) fail(op, `x must have rank >= 2 (channels last, e.g. NHWC or [B, C]), got shape ${fmtShape(x.shape)}`);
  const C = x.shape[x.rank - 1]!;
  return { rows: C === 0 ? 0 : x.size / C, C };
}

/** A per-channel vector: shape [C]. */
function checkChannels(op: string, arg: string, t: Tensor, x: Tensor, C: number): void {
  checkTensor(op, arg, t);
  if (t.rank !== 1 || t.shape[0] !== C) {
    fail(op, `${arg} must have shape [${C}] (one value per channel of x ${fmtShape(x.shape)}), got ${fmtShape(t.shape)}`);
  }
}

function checkEpsilon(op: string, epsilon: number): number {
  checkFinite(op, "epsilon", epsilon);
  if (epsilon < 0) fail(op, `epsilon must be >= 0, got ${epsilon}`);
  return epsilon;
}

/** Runs `fn` with a scratch tensor of `n` floats, freed afterwards. */
function withWorkspace<T>(engine: Engine, op: string, n: number, fn: (ws: Tensor) => T): T {
  const ws = engine.empty([Math.max(n, 1)], "f32", `${op} workspace`);
  try {
    return fn(ws);
  } finally {
    ws.dispose();
  }
}

/**
 * Inference, exactly ONNX BatchNormalization with training_mode = 0:
 * y = scale * (x - mean) / sqrt(variance + epsilon) + bias. x: [..., C] (NHWC or [B, C]);
 * scale, bias, mean, variance: [C]. Returns y with x's shape; `out` may be x (in place).
 */
export function batchNormInference(
  x: Tensor,
  scale: Tensor,
  bias: Tensor,
  mean: Tensor,
  variance: Tensor,
  options: BatchNormOptions = {},
  out?: Tensor,
): Tensor {
  const op = "batchNormInference";
  checkOptions(op, "options", options);
  const e = engineOf(op, x, scale, bias, mean, variance, out);
  const { rows, C } = channelsLast(op, x);
  checkChannels(op, "scale", scale, x, C);
  checkChannels(op, "bias", bias, x, C);
  checkChannels(op, "mean", mean, x, C);
  checkChannels(op, "variance", variance, x, C);
  const epsilon = checkEpsilon(op, options.epsilon ?? 1e-5);
  const y = outputTensor(op, e, x.shape, out);
  withWorkspace(e, op, C, (ws) => e.kernels.batchnorm_f32_inference(y.ptr, x.ptr, scale.ptr, bias.ptr, mean.ptr, variance.ptr, ws.ptr, epsilon, rows, C));
  return y;
}

/**
 * Training, ONNX BatchNormalization with training_mode = 1: normalises x: [..., C] with the batch
 * mean and the biased batch variance per channel (over all axes but the last), then applies
 * scale, bias: [C]. Updates options.runningMean / runningVar ([C]) in place when given:
 * running = momentum * running + (1 - momentum) * batch (see unbiasedRunningVar).
 * Returns y (x's shape; `out` may be x) and the saved [C] mean and invStd for batchNormBackward.
 */
export function batchNormTraining(x: Tensor, scale: Tensor, bias: Tensor, options: BatchNormTrainingOptions = {}, out?: Tensor): BatchNormSaved {
  const op = "batchNormTraining";
  checkOptions(op, "options", options);
  const { runningMean, runningVar } = options;
  const e = engineOf(op, x, scale, bias, runningMean, runningVar, out);
  const { rows, C } = channelsLast(op, x);
  checkChannels(op, "scale", scale, x, C);
  checkChannels(op, "bias", bias, x, C);
  if (runningMean) checkChannels(op, "runningMean", runningMean, x, C);
  if (runningVar) checkChannels(op, "runningVar", runningVar, x, C);
  const epsilon = checkEpsilon(op, options.epsilon ?? 1e-5);
  const momentum = checkFinite(op, "momentum", options.momentum ?? 0.9);
  if (momentum < 0 || momentum > 1) fail(op, `momentum must be in [0, 1], got ${momentum}`);
  if (rows === 0) fail(op, `x ${fmtShape(x.shape)} has no values per channel to take statistics over`);
  const unbiased = options.unbiasedRunningVar ?? false;
  if (unbiased && runningVar && rows < 2) {
    fail(op, `unbiasedRunningVar needs at least 2 values per channel, x ${fmtShape(x.shape)} has ${rows}`);
  }
  const varFactor = unbiased && rows > 1 ? rows / (rows - 1) : 1;
  const y = outputTensor(op, e, x.shape, out);
  const mean = e.empty([C], "f32", `${op} mean`);
  const invStd = e.empty([C], "f32", `${op} invStd`);
  withWorkspace(e, op, C, (ws) =>
    e.kernels.batchnorm_f32_training(
      y.ptr,
      mean.ptr,
      invStd.ptr,
      runningMean?.ptr ?? 0,
      runningVar?.ptr ?? 0,
      x.ptr,
      scale.ptr,
      bias.ptr,
      ws.ptr,
      epsilon,
      momentum,
      varFactor,
      rows,
      C,
    ),
  );
  return { y, mean, invStd };
}

/**
 * Training-mode gradient through the batch statistics. dy, x: [..., C] (x the forward input);
 * scale, mean, invStd: [C] (mean and invStd as returned by batchNormTraining). Accumulates into
 * grads.dx (x's shape), grads.dscale and grads.dbias ([C]) when given, else new zeroed ones.
 */
export function batchNormBackward(
  dy: Tensor,
  x: Tensor,
  scale: Tensor,
  mean: Tensor,
  invStd: Tensor,
  grads: { dx?: Tensor; dscale?: Tensor; dbias?: Tensor } = {},
): { dx: Tensor; dscale: Tensor; dbias: Tensor } {
  const op = "batchNormBackward";
  grads = checkOptions(op, "grads", grads);
  const e = engineOf(op, dy, x, scale, mean, invStd, grads.dx, grads.dscale, grads.dbias);
  const { rows, C } = channelsLast(op, x);
  checkTensor(op, "dy", dy);
  if (dy.rank !== x.rank || dy.shape.some((d, i) => d !== x.shape[i])) {
    fail(op, `dy ${fmtShape(dy.shape)} and x ${fmtShape(x.shape)} must have the same shape`);
  }
  checkChannels(op, "scale", scale, x, C);
  checkChannels(op, "mean", mean, x, C);
  checkChannels(op, "invStd", invStd, x, C);
  const dx = gradTensor(op, "dx", e, x.shape, grads.dx);
  const dscale = gradTensor(op, "dscale", e, [C], grads.dscale);
  const dbias = gradTensor(op, "dbias", e, [C], grads.dbias);
  for (const [name, g] of [
    ["dx", dx],
    ["dscale", dscale],
    ["dbias", dbias],
  ] as const) {
    if (g.ptr === dy.ptr || g.ptr === x.ptr) fail(op, `${name} must not alias dy or x`);
  }
  if (rows === 0) return { dx, dscale, dbias };
  withWorkspace(e, op, 4 * C, (ws) =>
    e.kernels.batchnorm_f32_backward(dx.ptr, dscale.ptr, dbias.ptr, dy.ptr, x.ptr, scale.ptr, mean.ptr, invStd.ptr, ws.ptr, rows, C),
  );
  return { dx, dscale, dbias };
}
