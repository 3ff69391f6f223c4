// Plain float64 references for the losses (assembly/loss.ts).

export function mseRef(p: ArrayLike<number>, t: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) s += (p[i]! - t[i]!) ** 2;
  return p.length === 0 ? 0 : s / p.length;
}

/** Weston-Watkins multiclass SVM loss (CS231n), mean over rows of [rows, cols] scores. */
export function hingeRef(s: ArrayLike<number>, labels: ArrayLike<number>, cols: number, margin: number): number {
  let total = 0;
  for (let r = 0; r < labels.length; r++) {
    const y = labels[r]!;
    for (let j = 0; j < cols; j++) if (j !== y) total += Math.max(0, s[r * cols + j]! - s[r * cols + y]! + margin);
  }
  return labels.length === 0 ? 0 : total / labels.length;
}

/** Its gradient with respect to the scores, times scale (the subgradient 0 where a term is exactly 0). */
export function hingeGradRef(s: ArrayLike<number>, labels: ArrayLike<number>, cols: number, margin: number, scale: number): number[] {
  const g = new Array<number>(s.length).fill(0);
  for (let r = 0; r < labels.length; r++) {
    const y = labels[r]!;
    for (let j = 0; j < cols; j++) {
      if (j !== y && s[r * cols + j]! - s[r * cols + y]! + margin > 0) {
        g[r * cols + j]! += scale;
        g[r * cols + y]! -= scale;
      }
    }
  }
  return g;
}

/** log(sigmoid(z)) in float64 without cancellation for large |z|. */
const logSigmoid = (z: number): number => (z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z)));

/** Binary cross-entropy on logits, mean over elements: -(t log sigmoid(z) + (1 - t) log sigmoid(-z)). */
export function bceRef(z: ArrayLike<number>, t: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < z.length; i++) s -= t[i]! * logSigmoid(z[i]!) + (1 - t[i]!) * logSigmoid(-z[i]!);
  return z.length === 0 ? 0 : s / z.length;
}
