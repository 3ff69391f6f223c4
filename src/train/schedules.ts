// Learning-rate schedules: pure functions from a step (or epoch) index t >= 0 to a learning rate.
// Use: `opt.lr = schedule(epoch)` before each epoch (or step).
import { checkFinite, checkInt, fail, fmtValue } from "../errors.js";
import { checkOptions } from "../ops/common.js";

/** A learning rate as a function of the step or epoch t (from 0). */
export type Schedule = (t: number) => number;

function checkIndex(op: string, t: number): number {
  if (!Number.isInteger(t) || t < 0) fail(op, `the step/epoch index must be an integer >= 0, got ${fmtValue(t)}`);
  return t;
}

/** Options of stepDecay. */
export interface StepDecayOptions {
  /** Learning rate at t = 0. */
  lr: number;
  /** Multiplier applied every `every` steps, in (0, 1]; default 0.1. */
  factor?: number;
  /** Decay period in steps or epochs, an integer >= 1. */
  every: number;
}

/** Step decay: lr * factor^floor(t / every). */
export function stepDecay(options: StepDecayOptions): Schedule {
  const op = "stepDecay";
  if (options === undefined) fail(op, "options {lr, every, factor?} are required");
  checkOptions(op, "options", options);
  const lr = checkFinite(op, "lr", options.lr);
  const factor = checkFinite(op, "factor", options.factor ?? 0.1);
  if (lr < 0) fail(op, `lr must be >= 0, got ${lr}`);
  if (factor <= 0 || factor > 1) fail(op, `factor must be in (0, 1], got ${factor}`);
  const every = checkInt(op, "every", options.every, 1);
  return (t) => lr * Math.pow(factor, Math.floor(checkIndex(op, t) / every));
}

/** Options of cosineDecay. */
export interface CosineDecayOptions {
  /** Peak learning rate (after warm-up). */
  lr: number;
  /** Steps (or epochs) over which the rate falls from lr to minLr; afterwards it stays at minLr. */
  total: number;
  /** Final learning rate, default 0. */
  minLr?: number;
  /** Linear warm-up from lr / warmup to lr over the first `warmup` steps; default 0 (none). */
  warmup?: number;
}

/**
 * Cosine decay (SGDR without restarts): after warm-up, minLr + (lr - minLr) * (1 + cos(pi * s / S)) / 2
 * with s = t - warmup, S = total - warmup; minLr once t >= total.
 */
export function cosineDecay(options: CosineDecayOptions): Schedule {
  const op = "cosineDecay";
  if (options === undefined) fail(op, "options {lr, total, minLr?, warmup?} are required");
  checkOptions(op, "options", options);
  const lr = checkFinite(op, "lr", options.lr);
  const minLr = checkFinite(op, "minLr", options.minLr ?? 0);
  const total = checkInt(op, "total", options.total, 1);
  const warmup = checkInt(op, "warmup", options.warmup ?? 0, 0);
  if (lr < 0 || minLr < 0 || minLr > lr) fail(op, `need 0 <= minLr <= lr, got lr ${lr}, minLr ${minLr}`);
  if (warmup >= total) fail(op, `warmup (${warmup}) must be less than total (${total})`);
  return (t) => {
    checkIndex(op, t);
    if (t < warmup) return (lr * (t + 1)) / warmup;
    if (t >= total) return minLr;
    return minLr + ((lr - minLr) * (1 + Math.cos((Math.PI * (t - warmup)) / (total - warmup)))) / 2;
  };
}
