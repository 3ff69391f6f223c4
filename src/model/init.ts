// Seeded weight initialisation. Normal draws come from the kernel fill_normal_f32
// (assembly/random.ts: counter-based hash + f32 Box-Muller made of IEEE-exact operations), one
// stream per parameter: the same seed gives the same weights in every build and runtime, and a
// parameter's values do not depend on which others were given in initialParams.
// normalGenerator (mulberry32 + float64 Box-Muller in JS) serves the host's own sampling (t-SNE).
import type { Tensor } from "../tensor.js";
import type { InitKind } from "./spec.js";

export { mulberry32 } from "../random.js";

/** Standard normal numbers from a uniform generator (Box-Muller, both values of each pair used). */
export function normalGenerator(uniform: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = Math.max(uniform(), 1e-300);
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** Standard deviation of the normal init: He sqrt(2/fanIn), Xavier/Glorot sqrt(2/(fanIn+fanOut)). */
export function initStd(kind: "he" | "xavier", fanIn: number, fanOut: number): number {
  return kind === "he" ? Math.sqrt(2 / fanIn) : Math.sqrt(2 / (fanIn + fanOut));
}

/** Stream seed of parameter number `index` (0, 1, ...) of a model with seed `seed` (u32). */
export function paramStream(seed: number, index: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) + Math.imul(index + 1, 0x85ebca77)) >>> 0;
}

/**
 * Fills f32 tensor `t` per `kind`: zeros, ones, std(kind) * N(0, 1) from stream `stream`, or
 * orthogonal: t viewed as [..., fanIn, m] (m a multiple of fanIn) gets an orthogonal fanIn x fanIn
 * matrix in every block of fanIn columns (the Q of a QR factorisation of N(0, 1) draws, with the
 * signs of R's diagonal, as Saxe et al. 2014 and PyTorch's orthogonal_), so a recurrence
 * h R starts with every singular value 1 per gate.
 */
export function fillInit(t: Tensor, kind: InitKind, fanIn: number, fanOut: number, stream: number): void {
  const k = t.engine.kernels;
  if (kind === "zeros" || kind === "ones") k.fill_f32(t.ptr, kind === "ones" ? 1 : 0, t.size);
  else if (kind === "orthogonal") {
    for (let i = 0; i < t.size; i += INIT_CHUNK) k.fill_normal_f32(t.ptr + 4 * i, Math.min(INIT_CHUNK, t.size - i), 1, stream >>> 0, i);
    orthogonalizeBlocks(t.data, fanIn, t.shape[t.shape.length - 1]!);
  } else {
    const std = initStd(kind, fanIn, fanOut);
    for (let i = 0; i < t.size; i += INIT_CHUNK) k.fill_normal_f32(t.ptr + 4 * i, Math.min(INIT_CHUNK, t.size - i), std, stream >>> 0, i);
  }
}

/**
 * Replaces every n x n block (rows of length m, blocks of n columns; m a multiple of n) of v with
 * the orthogonal Q of its QR factorisation (modified Gram-Schmidt on the columns in float64), the
 * columns' signs those of R's diagonal.
 */
export function orthogonalizeBlocks(v: Float32Array, n: number, m: number): void {
  if (m % n !== 0 || v.length % (n * m) !== 0) throw new Error(`orthogonal init needs [..., ${n}, k x ${n}], got ${v.length} values in rows of ${m}`);
  const q = new Float64Array(n * n);
  for (let base = 0; base < v.length; base += n * m) {
    for (let c0 = 0; c0 < m; c0 += n) {
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) q[j * n + i] = v[base + i * m + c0 + j]!; // q row j = column j
      for (let j = 0; j < n; j++) {
        const cj = j * n;
        for (let p = 0; p < j; p++) {
          let dotp = 0;
          for (let i = 0; i < n; i++) dotp += q[p * n + i]! * q[cj + i]!;
          for (let i = 0; i < n; i++) q[cj + i]! -= dotp * q[p * n + i]!;
        }
        let norm = 0;
        for (let i = 0; i < n; i++) norm += q[cj + i]! * q[cj + i]!;
        norm = Math.sqrt(norm) || 1;
        for (let i = 0; i < n; i++) q[cj + i]! /= norm;
      }
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) v[base + i * m + c0 + j] = q[j * n + i]!;
    }
  }
}

/** Elements per fill_normal_f32 call (even): V8 runs a wasm function's first calls in baseline code
 *  until its optimised code is ready, and a call stays in the code it started in. One 102M-value
 *  call (VGG-16's fc6) ran at 11 ns a value, chunks of 64K at 3. */
const INIT_CHUNK = 1 << 16;
