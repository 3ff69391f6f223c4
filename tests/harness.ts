// Shared test tools: one engine per wasm build, a seeded RNG, closeness checks, finite differences.
import { existsSync } from "node:fs";
import { expect } from "vitest";
import { type BuildName, init, type Engine, type Tensor } from "../src/index.js";
import { relaxedSimd } from "wasm-feature-detect";
import { mulberry32 } from "../src/random.js";

/** Every build this process can run. Tests are parameterised over it: each kernel runs in each build. */
export const BUILDS_UNDER_TEST: BuildName[] = ["scalar", "simd", ...((await relaxedSimd()) ? ["relaxed" as const] : [])];
if (process.env.CI && !BUILDS_UNDER_TEST.includes("relaxed")) {
  throw new Error("CI must test the relaxed build: run node with --experimental-wasm-relaxed-simd");
}

/**
 * The threads builds this process can run: "threads", and "relaxed-threads" where relaxed SIMD runs.
 * The bitwise thread-split checks run in each (relaxed-only GEMM paths change split alignment).
 */
export const THREADS_BUILDS_UNDER_TEST: BuildName[] = ["threads", ...(BUILDS_UNDER_TEST.includes("relaxed") ? ["relaxed-threads" as const] : [])];

/** The one-thread build with the same instructions as a threads build: its bits are the threads build's. */
export const singleThreadBuildOf = (build: BuildName): BuildName => (build === "relaxed-threads" ? "relaxed" : build === "threads" ? "simd" : build);

const engines = new Map<BuildName, Promise<Engine>>();
export function engineFor(build: BuildName): Promise<Engine> {
  let e = engines.get(build);
  if (!e) engines.set(build, (e = init({ build })));
  return e;
}

/** Sizes around a 4-lane SIMD tile and its multiples: below, equal, above, multiples, odd. */
export const TILE_EDGE_SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 31, 33];

/** Deterministic uniform [0,1) generator (mulberry32, the library's own). */
export const rng = mulberry32;

/** n values uniform in [lo, hi) from a seeded generator. */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** Asserts |actual - expected| <= atol + rtol * |expected| element-wise, reporting the worst index. */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { rtol = 1e-5, atol = 1e-5, label = "" }: { rtol?: number; atol?: number; label?: string } = {},
): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const b = expected[i]!;
    const excess = Math.abs(a - b) - (atol + rtol * Math.abs(b));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(a))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(`${label} element ${worst}: got ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}

/**
 * Finite-difference check of a backward pass. `loss()` runs the forward on the current contents of
 * `param` and returns a scalar; `analytic` is dLoss/dParam from the backward kernel. Checks up to
 * `samples` entries with central differences in float32 (hence the loose default tolerance).
 */
export function expectGradientMatches(
  param: Tensor,
  analytic: ArrayLike<number>,
  loss: () => number,
  { eps = 1e-2, rtol = 2e-2, atol = 2e-3, samples = 24, seed = 7, label = "" } = {},
): void {
  const r = rng(seed);
  const n = param.size;
  const picks = n <= samples ? [...Array(n).keys()] : Array.from({ length: samples }, () => Math.floor(r() * n));
  const numeric: number[] = [];
  const exact: number[] = [];
  for (const i of picks) {
    const saved = param.data[i]!;
    param.data[i] = saved + eps;
    const up = loss();
    param.data[i] = saved - eps;
    const down = loss();
    param.data[i] = saved;
    numeric.push((up - down) / (2 * eps));
    exact.push(analytic[i]!);
  }
  expectClose(exact, numeric, { rtol, atol, label: `${label} gradient vs finite differences` });
}

/** Sum of y * weights in float64: a loss whose gradient with respect to y is `weights`. */
export function dot(y: ArrayLike<number>, weights: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i]! * weights[i]!;
  return s;
}

/** ONNX's conformance cases, kept in ../shared/onnx beside the repository (see its README). */
export const ONNX_DIR = new URL("../../shared/onnx/", import.meta.url);
/** Whether they are present; CI always has them, so there their absence is an error, not a skip. */
export const HAS_ONNX = existsSync(new URL("README.md", ONNX_DIR));
if (process.env.CI && !HAS_ONNX) throw new Error(`ONNX conformance cases missing at ${ONNX_DIR.pathname}`);
