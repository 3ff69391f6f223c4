// Exact t-SNE (van der Maaten & Hinton 2008) for up to a couple of thousand points: O(n^2) memory
// and time per iteration. Per-point Gaussian bandwidths by binary search on the perplexity,
// symmetrised affinities, Student-t similarities in the embedding, gradient descent with momentum,
// per-parameter gains (delta-bar-delta) and early exaggeration, as in the paper's reference code.
// Seeded: the same inputs and seed give the same embedding.
import { checkFinite, checkInt, fail } from "../errors.js";
import { mulberry32, normalGenerator } from "../model/init.js";

/** Options of tsne: perplexity, steps, learning rate, early exaggeration, seed. */
export interface TsneOptions {
  /** Effective number of neighbours (default 30; must be below the number of points). */
  perplexity?: number;
  /** Gradient steps (default 500). */
  iterations?: number;
  /** Default max(n / earlyExaggeration / 4, 50). */
  learningRate?: number;
  /** Factor on P during the first exaggerationIterations (default 12, for 100 iterations). */
  earlyExaggeration?: number;
  exaggerationIterations?: number;
  /** Output dimensions (default 2). */
  dimensions?: number;
  /** Seed of the initial embedding (default 1). */
  seed?: number;
}

/** Squared Euclidean distances of the rows of x [n, dim]. */
/** `x` holds (at least) n rows of `dim` numbers. */
function checkRows(op: string, x: ArrayLike<number>, n: number, dim: number): void {
  if (!x || typeof x.length !== "number" || x.length < n * dim) fail(op, `x must hold ${n} rows of ${dim} numbers, got ${x?.length} values`);
}

function pairwiseSquared(x: ArrayLike<number>, n: number, dim: number): Float64Array {
  const d = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let k = 0; k < dim; k++) {
        const t = x[i * dim + k]! - x[j * dim + k]!;
        s += t * t;
      }
      d[i * n + j] = d[j * n + i] = s;
    }
  }
  return d;
}

/** Joint probabilities P (symmetric, sum 1) with each row's conditional at the given perplexity. */
export function tsneAffinities(x: ArrayLike<number>, n: number, dim: number, perplexity: number): Float64Array {
  checkRows("tsneAffinities", x, checkInt("tsneAffinities", "n", n, 2), checkInt("tsneAffinities", "dim", dim, 1));
  if (!(checkFinite("tsneAffinities", "perplexity", perplexity) > 0 && perplexity < n)) {
    fail("tsneAffinities", `perplexity must be in (0, ${n}) for ${n} points, got ${perplexity}`);
  }
  const D = pairwiseSquared(x, n, dim);
  const P = new Float64Array(n * n);
  const target = Math.log(perplexity);
  const row = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let beta = 1,
      lo = 0,
      hi = Infinity;
    // scale-free start: distances relative to the row's mean
    let mean = 0;
    for (let j = 0; j < n; j++) mean += D[i * n + j]!;
    mean /= n - 1;
    if (mean > 0) beta = 1 / mean;
    for (let it = 0; it < 100; it++) {
      let sum = 0,
        dot = 0;
      for (let j = 0; j < n; j++) {
        const v = j === i ? 0 : Math.exp(-D[i * n + j]! * beta);
        row[j] = v;
        sum += v;
        dot += v * D[i * n + j]!;
      }
      if (sum === 0) {
        hi = beta;
        beta = (lo + hi) / 2;
        continue;
      }
      const H = Math.log(sum) + (beta * dot) / sum; // entropy in nats
      if (Math.abs(H - target) < 1e-5) break;
      if (H > target) {
        lo = beta;
        beta = hi === Infinity ? beta * 2 : (lo + hi) / 2;
      } else {
        hi = beta;
        beta = (lo + hi) / 2;
      }
    }
    let sum = 0;
    for (let j = 0; j < n; j++) sum += row[j]!;
    for (let j = 0; j < n; j++) P[i * n + j] = sum > 0 ? row[j]! / sum : j === i ? 0 : 1 / (n - 1);
  }
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const v = Math.max((P[i * n + j]! + P[j * n + i]!) / (2 * n), 1e-12);
      P[i * n + j] = P[j * n + i] = v;
    }
  }
  return P;
}

/**
 * Embeds the rows of `x` ([n, dim], row-major) in `dimensions` (default 2) with exact t-SNE.
 * Returns the embedding [n, dimensions] row-major.
 */
export function tsne(x: ArrayLike<number>, dim: number, options: TsneOptions = {}): Float32Array {
  const op = "tsne";
  if (!Number.isInteger(dim) || dim < 1) fail(op, `dim must be a positive integer, got ${dim}`);
  const n = x.length / dim;
  if (!Number.isInteger(n) || n < 2) fail(op, `x must hold at least 2 whole rows of ${dim}, got ${x.length} values`);
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]!)) fail(op, `x[${i}] is not finite (${x[i]})`);
  const perplexity = options.perplexity ?? Math.min(30, (n - 1) / 3);
  if (!(perplexity > 0 && perplexity < n)) fail(op, `perplexity must be in (0, ${n}) for ${n} points, got ${perplexity}`);
  const iterations = options.iterations ?? 500;
  const exag = options.earlyExaggeration ?? 12;
  const exagIters = options.exaggerationIterations ?? 100;
  const lr = options.learningRate ?? Math.max(n / exag / 4, 50);
  const out = options.dimensions ?? 2;
  for (const [name, v] of [
    ["iterations", iterations],
    ["exaggerationIterations", exagIters],
    ["dimensions", out],
  ] as const) {
    if (!Number.isInteger(v) || v < (name === "dimensions" ? 1 : 0))
      fail(op, `${name} must be a ${name === "dimensions" ? "positive" : "non-negative"} integer, got ${v}`);
  }
  if (!(Number.isFinite(lr) && lr > 0)) fail(op, `learningRate must be a positive number, got ${lr}`);
  if (!(Number.isFinite(exag) && exag >= 1)) fail(op, `earlyExaggeration must be >= 1, got ${exag}`);

  const P = tsneAffinities(x, n, dim, perplexity);
  const normal = normalGenerator(mulberry32(options.seed ?? 1));
  const Y = new Float64Array(n * out).map(() => 1e-4 * normal());
  const step = new Float64Array(n * out),
    gains = new Float64Array(n * out).fill(1),
    grad = new Float64Array(n * out);
  const num = new Float64Array(n * n);
  for (let it = 0; it < iterations; it++) {
    const pScale = it < exagIters ? exag : 1;
    const momentum = it < 250 ? 0.5 : 0.8;
    let sumQ = 0;
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        let s = 0;
        for (let k = 0; k < out; k++) {
          const t = Y[i * out + k]! - Y[j * out + k]!;
          s += t * t;
        }
        const v = 1 / (1 + s);
        num[i * n + j] = num[j * n + i] = v;
        sumQ += 2 * v;
      }
    }
    // dC/dy_i = 4 sum_j (p_ij - q_ij) num_ij (y_i - y_j); the pair term is antisymmetric: one pass over i < j
    grad.fill(0);
    const invQ = 1 / sumQ;
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const q = num[i * n + j]!;
        const m = 4 * (pScale * P[i * n + j]! - q * invQ) * q;
        for (let k = 0; k < out; k++) {
          const t = m * (Y[i * out + k]! - Y[j * out + k]!);
          grad[i * out + k] = grad[i * out + k]! + t;
          grad[j * out + k] = grad[j * out + k]! - t;
        }
      }
    }
    for (let i = 0; i < n * out; i++) {
      gains[i] = Math.max(0.01, Math.sign(grad[i]!) !== Math.sign(step[i]!) ? gains[i]! + 0.2 : gains[i]! * 0.8);
      step[i] = momentum * step[i]! - lr * gains[i]! * grad[i]!;
      Y[i] = Y[i]! + step[i]!;
    }
    for (let k = 0; k < out; k++) {
      let mean = 0;
      for (let i = 0; i < n; i++) mean += Y[i * out + k]!;
      mean /= n;
      for (let i = 0; i < n; i++) Y[i * out + k] = Y[i * out + k]! - mean;
    }
  }
  return Float32Array.from(Y);
}

/** Kullback-Leibler divergence KL(P || Q) of an embedding y [n, d] for the affinities P (for tests and monitoring). */
export function tsneKl(P: Float64Array, y: ArrayLike<number>, n: number, d: number): number {
  checkRows("tsneKl", y, checkInt("tsneKl", "n", n, 1), checkInt("tsneKl", "d", d, 1));
  if (!P || P.length !== n * n) fail("tsneKl", `P must hold n * n = ${n * n} values, got ${P?.length}`);
  const num = new Float64Array(n * n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      let s = 0;
      for (let k = 0; k < d; k++) s += (y[i * d + k]! - y[j * d + k]!) ** 2;
      num[i * n + j] = 1 / (1 + s);
      sum += num[i * n + j]!;
    }
  }
  let kl = 0;
  for (let i = 0; i < n * n; i++) if (P[i]! > 0 && num[i]! > 0) kl += P[i]! * Math.log(P[i]! / (num[i]! / sum));
  return kl;
}
