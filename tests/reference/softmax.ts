// Plain float64 references for the softmax family (assembly/softmax.ts): row-major [rows, cols],
// each row normalised over its cols.

function rowLogSumExp(x: ArrayLike<number>, start: number, cols: number): number {
  let m = -Infinity;
  for (let c = 0; c < cols; c++) m = Math.max(m, x[start + c]!);
  let s = 0;
  for (let c = 0; c < cols; c++) s += Math.exp(x[start + c]! - m);
  return m + Math.log(s);
}

export function logSoftmaxRef(x: ArrayLike<number>, cols: number): number[] {
  const y = new Array<number>(x.length);
  for (let r = 0; r * cols < x.length; r++) {
    const lse = rowLogSumExp(x, r * cols, cols);
    for (let c = 0; c < cols; c++) y[r * cols + c] = x[r * cols + c]! - lse;
  }
  return y;
}

export const softmaxRef = (x: ArrayLike<number>, cols: number): number[] => logSoftmaxRef(x, cols).map(Math.exp);

/** Mean over rows of -log softmax(x)[r, labels[r]]. */
export function softmaxCrossEntropyRef(x: ArrayLike<number>, labels: ArrayLike<number>, cols: number): number {
  const ls = logSoftmaxRef(x, cols);
  let total = 0;
  for (let r = 0; r < labels.length; r++) total -= ls[r * cols + labels[r]!]!;
  return total / labels.length;
}
