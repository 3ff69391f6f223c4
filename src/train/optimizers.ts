// Optimizers: each step() applies one fused kernel per parameter (assembly/optim.ts), split over
// the engine's threads for large parameters (the same bits however split).
// Parameters are plain {value, grad, frozen?} records, so any model (or none) can be trained.
// Optimizer state (velocity, moments) is allocated once per parameter on its first step, zeroed,
// kept outside any engine.tidy() scope and reused on every later step; dispose() frees it.
import type { Engine } from "../engine.js";
import { checkFinite, fail, fmtShape } from "../errors.js";
import { checkOptions, checkTensor } from "../ops/common.js";
import { Tensor } from "../tensor.js";
import { elementwiseThreaded, f32Bits } from "../threads/parallel.js";

/** A trainable parameter: its values and the gradient the backward pass accumulated into. */
export interface Param {
  value: Tensor;
  grad: Tensor;
  /** Frozen parameters are skipped by step(): neither values nor optimizer state change. */
  frozen?: boolean;
  /** Used in error messages only. */
  name?: string;
}

/** What fit needs of an optimizer: a learning rate, a step over parameters and dispose (SGD and Adam are two). */
export interface Optimizer {
  /** Learning rate of the next step; schedules set it between steps. */
  lr: number;
  /** Updates every non-frozen parameter in place from its gradient. Gradients are not cleared. */
  step(params: readonly Param[]): void;
  /** Frees all optimizer state; a later step() starts from fresh (zero) state. */
  dispose(): void;
}

/** Sets every gradient to zero (frozen ones too): call before each backward pass. */
export function zeroGrads(params: readonly Param[]): void {
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    checkTensor("zeroGrads", `params[${i}].grad`, p.grad);
    const g = p.grad,
      e = g.engine;
    if (!elementwiseThreaded(e, "fill_f32_bits", g.size, (o, n) => [g.ptr + o, 0, n])) e.kernels.fill_f32(g.ptr, 0, g.size);
  }
}

/** Gradient clipping, applied by step() to the gradients (in place) before the update. */
export interface ClipOptions {
  /**
   * Clip by global norm: when the L2 norm of all non-frozen gradients together exceeds clipNorm,
   * every gradient is scaled by clipNorm / (norm + 1e-6) (PyTorch's clip_grad_norm_). Default none.
   */
  clipNorm?: number;
  /** Clip by value: every gradient element is clamped to [-clipValue, clipValue] (before clipNorm). Default none. */
  clipValue?: number;
}

/**
 * Clamps every element of the non-frozen gradients to [-limit, limit] in place.
 */
export function clipGradValue(params: readonly Param[], limit: number): void {
  const op = "clipGradValue";
  checkParams(op, params);
  if (!(checkFinite(op, "limit", limit) > 0)) fail(op, `limit must be > 0, got ${limit}`);
  for (const p of params) if (!p.frozen) p.grad.engine.kernels.clamp_f32(p.grad.ptr, limit, p.grad.size);
}

/** L2 norm of the non-frozen gradients taken together (float64 sums of squares). */
export function gradNorm(params: readonly Param[]): number {
  checkParams("gradNorm", params);
  let sum = 0;
  for (const p of params) if (!p.frozen) sum += p.grad.engine.kernels.sum_squares_f32(p.grad.ptr, p.grad.size);
  return Math.sqrt(sum);
}

/**
 * Scales the non-frozen gradients in place so that their global L2 norm is at most maxNorm (by
 * maxNorm / (norm + 1e-6) when it is above). Returns the norm before clipping (NaN or Infinity
 * when a gradient holds one; the gradients are then left as they are).
 */
export function clipGradNorm(params: readonly Param[], maxNorm: number): number {
  const op = "clipGradNorm";
  if (!(checkFinite(op, "maxNorm", maxNorm) > 0)) fail(op, `maxNorm must be > 0, got ${maxNorm}`);
  const norm = gradNorm(params);
  if (Number.isFinite(norm) && norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6);
    for (const p of params) if (!p.frozen) p.grad.engine.kernels.scale_f32(p.grad.ptr, scale, p.grad.size);
  }
  return norm;
}

function checkClip(op: string, o: ClipOptions): ClipOptions {
  for (const name of ["clipNorm", "clipValue"] as const) {
    const v = o[name];
    if (v !== undefined && !(checkFinite(op, name, v) > 0)) fail(op, `${name} must be > 0, got ${v}`);
  }
  return { clipNorm: o.clipNorm, clipValue: o.clipValue };
}

/** Validates a parameter list up front so a bad entry leaves every parameter unchanged. */
function checkParams(op: string, params: readonly Param[]): void {
  if (!Array.isArray(params)) fail(op, `params must be an array of {value, grad}, got ${typeof params}`);
  const seen = new Set<Tensor>();
  params.forEach((p, i) => {
    const label = p?.name ? `params[${i}] (${p.name})` : `params[${i}]`;
    if (!p || typeof p !== "object") fail(op, `${label} must be {value, grad}, got ${p}`);
    checkTensor(op, `${label}.value`, p.value);
    checkTensor(op, `${label}.grad`, p.grad);
    if (p.value.engine !== p.grad.engine) fail(op, `${label}: value and grad belong to different engines`);
    const a = p.value.shape,
      b = p.grad.shape;
    if (a.length !== b.length || a.some((d: number, k: number) => d !== b[k])) {
      fail(op, `${label}: grad ${fmtShape(b)} must have the shape of value ${fmtShape(a)}`);
    }
    if (seen.has(p.value)) fail(op, `${label}: the same value tensor appears twice`);
    seen.add(p.value);
  });
}

/** A zeroed float32 tensor that no tidy() scope owns (optimizer state outlives every step). */
function persistentZeros(engine: Engine, shape: readonly number[], what: string): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const t = new Tensor(engine, engine.heap.alloc(size * 4, `${what} of shape ${fmtShape(shape)}`), [...shape]);
  engine.kernels.fill_f32(t.ptr, 0, size);
  return t;
}

function checkRange(op: string, name: string, value: number, lo: number, hi: number, hiOpen = true): number {
  checkFinite(op, name, value);
  if (value < lo || (hiOpen ? value >= hi : value > hi)) fail(op, `${name} must be in [${lo}, ${hi}${hiOpen ? ")" : "]"}, got ${value}`);
  return value;
}

/**
 * Base of SGD and Adam (and of a new optimizer): state per parameter, keyed by its value tensor,
 * made by createState on the parameter's first step and freed by dispose(); update applies one step.
 */
export abstract class StatefulOptimizer<S extends { tensors: Tensor[] }> implements Optimizer {
  protected readonly state = new Map<Tensor, S>();
  private lrValue = 0;
  /** Gradient clipping applied at the start of every step (ClipOptions). */
  readonly clip: ClipOptions;
  /** The global gradient norm of the last step before clipping (NaN before the first step or without clipNorm). */
  lastGradNorm = NaN;

  constructor(
    protected readonly op: string,
    lr: number,
    clip: ClipOptions = {},
  ) {
    this.lr = lr;
    this.clip = checkClip(op, clip);
  }

  get lr(): number {
    return this.lrValue;
  }

  set lr(value: number) {
    checkFinite(this.op, "lr", value);
    if (value < 0) fail(this.op, `lr must be >= 0, got ${value}`);
    this.lrValue = value;
  }

  step(params: readonly Param[]): void {
    checkParams(`${this.op}.step`, params);
    if (this.clip.clipValue !== undefined) clipGradValue(params, this.clip.clipValue);
    if (this.clip.clipNorm !== undefined) this.lastGradNorm = clipGradNorm(params, this.clip.clipNorm);
    for (const p of params) {
      if (p.frozen) continue;
      let s = this.state.get(p.value);
      if (!s) this.state.set(p.value, (s = this.createState(p)));
      this.update(p, s);
    }
  }

  /** Number of parameters holding state (allocated on their first step). */
  get stateCount(): number {
    return this.state.size;
  }

  dispose(): void {
    for (const s of this.state.values()) for (const t of s.tensors) t.dispose();
    this.state.clear();
  }

  protected abstract createState(p: Param): S;
  protected abstract update(p: Param, s: S): void;
}

/** Options of SGD: learning rate, momentum, Nesterov, weight decay, gradient clipping. */
export interface SGDOptions extends ClipOptions {
  lr: number;
  /** Momentum coefficient in [0, 1); 0 (default) is plain SGD and keeps no state. */
  momentum?: number;
  /** Nesterov momentum (needs momentum > 0). */
  nesterov?: boolean;
  /** L2 penalty: weightDecay * w is added to the gradient. Default 0. */
  weightDecay?: number;
}

/**
 * Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay, PyTorch's
 * formulation without dampening: d = g + wd * w; v = mu * v + d; w -= lr * v (or lr * (d + mu * v)).
 */
export class SGD extends StatefulOptimizer<{ tensors: Tensor[] }> {
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;

  constructor(options: SGDOptions) {
    super("SGD", checkOptions("SGD", "options", options).lr, options);
    this.momentum = checkRange("SGD", "momentum", options.momentum ?? 0, 0, 1);
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = checkRange("SGD", "weightDecay", options.weightDecay ?? 0, 0, Infinity);
    if (this.nesterov && this.momentum === 0) fail("SGD", "nesterov needs momentum > 0");
  }

  protected createState(p: Param): { tensors: Tensor[] } {
    return { tensors: this.momentum > 0 ? [persistentZeros(p.value.engine, p.value.shape, "SGD velocity")] : [] };
  }

  protected update(p: Param, s: { tensors: Tensor[] }): void {
    const e = p.value.engine,
      k = e.kernels,
      w = p.value.ptr,
      g = p.grad.ptr,
      n = p.value.size;
    const [lr, wd] = [f32Bits(this.lr), f32Bits(this.weightDecay)];
    if (this.momentum === 0) {
      if (elementwiseThreaded(e, "sgd_f32_update_bits", n, (o, count) => [w + o, g + o, lr, wd, count])) return;
      k.sgd_f32_update(w, g, this.lr, this.weightDecay, n);
    } else {
      const v = s.tensors[0]!.ptr,
        nesterov = this.nesterov ? 1 : 0,
        momentum = f32Bits(this.momentum);
      if (elementwiseThreaded(e, "sgd_momentum_f32_update_bits", n, (o, count) => [w + o, v + o, g + o, lr, momentum, wd, nesterov, count])) return;
      k.sgd_momentum_f32_update(w, v, g, this.lr, this.momentum, this.weightDecay, nesterov, n);
    }
  }
}

/** Options of Adam (all optional). */
export interface AdamOptions extends ClipOptions {
  /** Default 1e-3. */
  lr?: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Weight decay, default 0: L2 (added to the gradient) unless `decoupled` (AdamW: w -= lr * wd * w). */
  weightDecay?: number;
  decoupled?: boolean;
}

/** Adam's state for one parameter: its first and second moment tensors and its step count. */
export interface AdamState {
  tensors: Tensor[];
  /** Steps taken by this parameter (frozen steps do not count), for the bias correction. */
  t: number;
}

/** Adam with bias correction: w -= lr * mhat / (sqrt(vhat) + eps), per-parameter step counts. */
export class Adam extends StatefulOptimizer<AdamState> {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly decoupled: boolean;

  constructor(options: AdamOptions = {}) {
    super("Adam", checkOptions("Adam", "options", options).lr ?? 1e-3, options);
    this.beta1 = checkRange("Adam", "beta1", options.beta1 ?? 0.9, 0, 1);
    this.beta2 = checkRange("Adam", "beta2", options.beta2 ?? 0.999, 0, 1);
    this.eps = checkFinite("Adam", "eps", options.eps ?? 1e-8);
    if (this.eps <= 0) fail("Adam", `eps must be > 0, got ${this.eps}`);
    this.weightDecay = checkRange("Adam", "weightDecay", options.weightDecay ?? 0, 0, Infinity);
    this.decoupled = options.decoupled ?? false;
  }

  protected createState(p: Param): AdamState {
    const e = p.value.engine;
    const m = persistentZeros(e, p.value.shape, "Adam first moment");
    try {
      return { tensors: [m, persistentZeros(e, p.value.shape, "Adam second moment")], t: 0 };
    } catch (err) {
      m.dispose();
      throw err;
    }
  }

  protected update(p: Param, s: AdamState): void {
    s.t++;
    const c1 = 1 / (1 - Math.pow(this.beta1, s.t));
    const c2 = 1 / (1 - Math.pow(this.beta2, s.t));
    const [m, v] = s.tensors as [Tensor, Tensor];
    const l2 = this.decoupled ? 0 : this.weightDecay;
    const dec = this.decoupled ? this.weightDecay : 0;
    const e = p.value.engine,
      w = p.value.ptr,
      g = p.grad.ptr,
      n = p.value.size;
    const floats = [this.lr, this.beta1, this.beta2, this.eps, c1, c2, l2, dec];
    if (elementwiseThreaded(e, "adam_f32_update_bits", n, (o, count) => [w + o, m.ptr + o, v.ptr + o, g + o, ...floats.map(f32Bits), count])) return;
    e.kernels.adam_f32_update(w, m.ptr, v.ptr, g, this.lr, this.beta1, this.beta2, this.eps, c1, c2, l2, dec, n);
  }
}
