// Plain float64 references for the optimizers (assembly/optim.ts), written from the papers' /
// PyTorch's formulas, one parameter at a time. Each mutates w and its state arrays in place.

export interface SgdRefOptions {
  lr: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
}

export function sgdStepRef(w: number[], v: number[], g: ArrayLike<number>, o: SgdRefOptions): void {
  for (let i = 0; i < w.length; i++) {
    const d = g[i]! + o.weightDecay * w[i]!;
    if (o.momentum === 0) {
      w[i] = w[i]! - o.lr * d;
      continue;
    }
    v[i] = o.momentum * v[i]! + d;
    w[i] = w[i]! - o.lr * (o.nesterov ? d + o.momentum * v[i]! : v[i]!);
  }
}

export interface AdamRefOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupled: boolean;
}

/** One Adam step number t (1-based). */
export function adamStepRef(w: number[], m: number[], v: number[], g: ArrayLike<number>, t: number, o: AdamRefOptions): void {
  for (let i = 0; i < w.length; i++) {
    const d = g[i]! + (o.decoupled ? 0 : o.weightDecay * w[i]!);
    m[i] = o.beta1 * m[i]! + (1 - o.beta1) * d;
    v[i] = o.beta2 * v[i]! + (1 - o.beta2) * d * d;
    const mhat = m[i]! / (1 - o.beta1 ** t);
    const vhat = v[i]! / (1 - o.beta2 ** t);
    const decay = o.decoupled ? o.lr * o.weightDecay * w[i]! : 0;
    w[i] = w[i]! - (o.lr * mhat) / (Math.sqrt(vhat) + o.eps) - decay;
  }
}
