// Plain float64 references for the matrix products (assembly/gemm.ts, src/ops/dense.ts).
// All matrices row-major; results are Float64Array.

/** op(A) . op(B) with A stored m x k (k x m if transA) and B stored k x n (n x k if transB). */
export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, m: number, n: number, k: number, transA = false, transB = false): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = transA ? a[p * m + i]! : a[i * k + p]!;
        const bv = transB ? b[j * k + p]! : b[p * n + j]!;
        s += av * bv;
      }
      c[i * n + j] = s;
    }
  }
  return c;
}

/** Fully connected layer: y[r, o] = b[o] + sum_i x[r, i] * w[i, o]; w is [in, out]. */
export function denseRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, rows: number, inF: number, outF: number): Float64Array {
  const y = matmulRef(x, w, rows, outF, inF);
  if (b) for (let r = 0; r < rows; r++) for (let o = 0; o < outF; o++) y[r * outF + o]! += b[o]!;
  return y;
}

/**
 * ONNX Gemm: alpha * op(A) . op(B) + beta * C, C (shape cShape, rank <= 2) broadcast to [m, n].
 */
export function gemmRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c: ArrayLike<number> | null,
  cShape: readonly number[],
  m: number,
  n: number,
  k: number,
  { alpha = 1, beta = 1, transA = false, transB = false } = {},
): Float64Array {
  const y = matmulRef(a, b, m, n, k, transA, transB);
  const cm = cShape.length === 2 ? cShape[0]! : 1;
  const cn = cShape.length >= 1 ? cShape[cShape.length - 1]! : 1;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      const cv = c ? c[(cm === 1 ? 0 : i) * cn + (cn === 1 ? 0 : j)]! : 0;
      y[i * n + j] = alpha * y[i * n + j]! + beta * cv;
    }
  }
  return y;
}
