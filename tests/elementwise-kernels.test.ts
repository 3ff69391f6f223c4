// The element-wise kernel families (assembly/unary.ts, assembly/broadcast.ts) against plain float64
// references (tests/reference/elementwise.ts) in every build: every op code of
// src/graph/kernel-codes.ts at SIMD tile edges; broadcasting in every layout the planner makes
// (same shapes, scalars, rank 0, empty tensors, per-channel constants against NHWC values, inputs
// in different axis orders); every backward against finite differences.
import { describe, expect, it } from "vitest";
import type { Engine } from "../src/index.js";
import { BinaryF32, BinaryI32, Cast, UNARY_NO_GRADIENT, UnaryF32, UnaryI32 } from "../src/graph/kernel-codes.js";
import { ND_DESC_WORDS, writeNd } from "../src/graph/nd.js";
import { broadcastLoop, type Operand } from "../src/graph/ops/elementwise.js";
import { identityPerm, logicalStrides, type Perm } from "../src/graph/types.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, expectGradientMatches, rng, TILE_EDGE_SIZES, uniform } from "./harness.js";
import {
  BINARY,
  BINARY_I32,
  broadcastMap,
  broadcastShape,
  derivative,
  indices,
  reduceToShape,
  roundBfloat16,
  roundHalf,
  UNARY,
} from "./reference/elementwise.js";

type UnaryName = keyof typeof UnaryF32;

/** Per op: input range, parameters, tolerance, and kinks the gradient check keeps away from. */
interface UnaryCase {
  lo: number;
  hi: number;
  p?: number;
  q?: number;
  rtol?: number;
  atol?: number;
  kinks?: number[];
  int?: boolean;
}
const UNARY_CASES: Record<UnaryName, UnaryCase> = {
  Abs: { lo: -3, hi: 3, kinks: [0] },
  Neg: { lo: -3, hi: 3 },
  Sqrt: { lo: 0.01, hi: 50 },
  Exp: { lo: -80, hi: 80, rtol: 4e-6 },
  Log: { lo: 1e-3, hi: 1e4, atol: 1e-6 },
  Reciprocal: { lo: 0.1, hi: 10 },
  Erf: { lo: -4.5, hi: 4.5, atol: 1e-6 },
  Sign: { lo: -2, hi: 2 },
  Floor: { lo: -20, hi: 20 },
  Ceil: { lo: -20, hi: 20 },
  Round: { lo: -20, hi: 20, int: true },
  Sin: { lo: -20, hi: 20, atol: 1e-6 },
  Cos: { lo: -20, hi: 20, atol: 1e-6 },
  Clip: { lo: -3, hi: 3, p: -1, q: 1.5, kinks: [-1, 1.5] },
  HardSigmoid: { lo: -5, hi: 5, p: 0.2, q: 0.5, kinks: [-2.5, 2.5] },
  HardSwish: { lo: -5, hi: 5, kinks: [-3, 3] },
  Elu: { lo: -5, hi: 3, p: 0.7, kinks: [0] },
  Selu: { lo: -5, hi: 3, p: 1.6732632, q: 1.050701, kinks: [0] },
  Celu: { lo: -5, hi: 3, p: 1.3, kinks: [0] },
  Gelu: { lo: -5, hi: 5, atol: 1e-6 },
  GeluTanh: { lo: -5, hi: 5, atol: 1e-6 },
  Mish: { lo: -10, hi: 25, atol: 1e-6 },
  Softplus: { lo: -20, hi: 30, atol: 1e-6 },
  Softsign: { lo: -5, hi: 5 },
  ThresholdedRelu: { lo: -2, hi: 3, p: 0.5, kinks: [0.5] },
  Affine: { lo: -3, hi: 3, p: 0.25, q: -1 },
  Square: { lo: -3, hi: 3 },
  PowConst: { lo: 0.1, hi: 4, p: 2.7, rtol: 1e-5 },
  IsNaN: { lo: -1, hi: 1 },
  IsInf: { lo: -1, hi: 1, p: 1, q: 0 },
  Tan: { lo: -1.5, hi: 1.5, rtol: 4e-6, atol: 1e-7 },
  Asin: { lo: -1, hi: 1, rtol: 4e-6, kinks: [-1, 1] },
  Acos: { lo: -1, hi: 1, rtol: 4e-6, atol: 2e-7, kinks: [-1, 1] },
  Atan: { lo: -20, hi: 20, rtol: 4e-6 },
  Sinh: { lo: -20, hi: 20, rtol: 4e-6 },
  Cosh: { lo: -20, hi: 20, rtol: 4e-6 },
  Asinh: { lo: -1e4, hi: 1e4, rtol: 4e-6 },
  Acosh: { lo: 1, hi: 1e4, rtol: 4e-6, kinks: [1] },
  Atanh: { lo: -0.95, hi: 0.95, rtol: 4e-6 },
};
const PREDICATES = new Set<UnaryName>(["IsNaN", "IsInf"]);

/** expectClose where NaN matches NaN. */
function expectCloseNaN(got: ArrayLike<number>, want: ArrayLike<number>, o: { rtol: number; atol: number; label: string }): void {
  const nan = (v: ArrayLike<number>) => Array.from(v, (x) => Number.isNaN(x));
  expect(nan(got), `${o.label}: NaN positions`).toEqual(nan(want));
  expectClose(
    Array.from(got, (x) => (Number.isNaN(x) ? 0 : x)),
    Array.from(want, (x) => (Number.isNaN(x) ? 0 : x)),
    o,
  );
}

function values(n: number, seed: number, c: UnaryCase): Float32Array {
  const x = uniform(n, seed, c.lo, c.hi);
  if (c.int) for (let i = 0; i < n; i += 3) x[i] = Math.round(x[i]!) + (i % 2 ? 0.5 : -0.5); // exact halves
  return x;
}

/** The kernel's output as numbers: f32 values, or i32 0/1 for predicates. */
function read(e: Engine, ptr: number, n: number, ints: boolean): number[] {
  return Array.from(ints ? new Int32Array(e.memory.buffer, ptr, n) : new Float32Array(e.memory.buffer, ptr, n));
}

describe.each(BUILDS_UNDER_TEST)("unary_f32 kernels (%s)", (build) => {
  it.each(Object.keys(UnaryF32) as UnaryName[])("%s forward matches float64 at tile edges", async (op) => {
    const e = await engineFor(build);
    const c = UNARY_CASES[op],
      p = c.p ?? 0,
      q = c.q ?? 0,
      ints = PREDICATES.has(op);
    e.tidy(() => {
      for (const n of [...TILE_EDGE_SIZES, 64]) {
        const xv = values(n, n, c);
        if (ints) for (let i = 0; i < n; i += 3) xv[i] = [NaN, Infinity, -Infinity][(i / 3) % 3]!;
        const x = e.tensor([n], xv),
          y = e.zeros([n + 1]); // one more: nothing is written past n
        y.data[n] = 12345;
        e.kernels.unary_f32_forward(UnaryF32[op], y.ptr, x.ptr, n, p, q);
        const want = Array.from(xv, (v) => UNARY[op]!(v, p, q));
        expectClose(read(e, y.ptr, n, ints), want, { rtol: c.rtol ?? 2e-6, atol: c.atol ?? 1e-7, label: `${op} n=${n}` });
        expect(y.data[n]).toBe(12345);
      }
    });
  });

  it("special values: inf, NaN, zeros, subnormals, overflow", async () => {
    const e = await engineFor(build);
    const xs = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 88.5, 88.75, 100, -88, -100, -104, 1e30, -1e30];
    const f32 = (v: number) => Math.fround(v);
    e.tidy(() => {
      const x = e.tensor([xs.length], xs),
        y = e.zeros([xs.length]);
      const run = (op: UnaryName, p = 0, q = 0) => {
        e.kernels.unary_f32_forward(UnaryF32[op], y.ptr, x.ptr, xs.length, p, q);
        return Array.from(y.data);
      };
      const exp = run("Exp");
      xs.forEach((v, i) => {
        const want = f32(Math.exp(f32(v)));
        if (Number.isNaN(want) || !Number.isFinite(want) || want === 0) expect(exp[i], `exp(${v})`).toBe(want);
        else expect(Math.abs(exp[i]! - want)).toBeLessThanOrEqual(Math.max(2e-6 * want, 1e-44));
      });
      const log = run("Log");
      expect(log.slice(0, 5)).toEqual([NaN, Infinity, NaN, -Infinity, -Infinity]);
      expect(log[5]).toBeCloseTo(Math.log(f32(1e-40)), 4); // a subnormal input
      expect(Number.isNaN(log[6]!)).toBe(true);
      const sin = run("Sin"),
        cos = run("Cos");
      expect(sin.slice(0, 3).every(Number.isNaN) && cos.slice(0, 3).every(Number.isNaN)).toBe(true);
      expect(Object.is(sin[4], -0)).toBe(true);
      expect(run("Erf").slice(1, 3)).toEqual([1, -1]);
      expect(run("Elu", 1).slice(1, 5)).toEqual([Infinity, -1, 0, -0]);
      expect(run("Mish")[1]).toBe(Infinity);
      expect(run("Softplus").slice(1, 3)).toEqual([Infinity, 0]);
      // clamps (pmin / pmax with the value first): NaN passes through, infinities saturate
      expect(run("Clip", 0, 6).slice(0, 4)).toEqual([NaN, 6, 0, 0]);
      expect(run("HardSigmoid", 0.2, 0.5).slice(0, 4)).toEqual([NaN, 1, 0, 0.5]);
      expect(run("HardSwish").slice(0, 2)).toEqual([NaN, Infinity]);
      expect(run("Celu", 1).slice(0, 4)).toEqual([NaN, Infinity, -1, 0]);
      expect(Number.isNaN(run("Erf")[0]!) && Number.isNaN(run("Softplus")[0]!) && Number.isNaN(run("Mish")[0]!)).toBe(true);
      expect(run("Sign").slice(0, 5)).toEqual([NaN, 1, -1, 0, -0]);
      run("IsInf", 0, 1);
      expect(Array.from(new Int32Array(e.memory.buffer, y.ptr, 4))).toEqual([0, 0, 1, 0]);
      expect(run("PowConst", 2).slice(0, 5)).toEqual([NaN, Infinity, Infinity, 0, 0]);
    });
  });

  it.each((Object.keys(UnaryF32) as UnaryName[]).filter((op) => !UNARY_NO_GRADIENT.has(op)))(
    "%s backward accumulates dy * f'(x), against finite differences",
    async (op) => {
      const e = await engineFor(build);
      const c = UNARY_CASES[op],
        p = c.p ?? 0,
        q = c.q ?? 0;
      const f = (v: number) => UNARY[op]!(v, p, q);
      e.tidy(() => {
        for (const n of [...TILE_EDGE_SIZES, 64]) {
          const xv = values(n, 7 * n, c);
          // keep the central difference off the kinks
          for (let i = 0; i < n; i++) for (const k of c.kinks ?? []) if (Math.abs(xv[i]! - k) < 1e-3) xv[i] = k + 0.01;
          const dyv = uniform(n, 3 * n),
            dx0 = uniform(n, 5 * n);
          const x = e.tensor([n], xv),
            dy = e.tensor([n], dyv),
            dx = e.tensor([n], dx0);
          e.kernels.unary_f32_backward(UnaryF32[op], dx.ptr, dy.ptr, x.ptr, n, p, q);
          const want = Array.from(xv, (v, i) => dx0[i]! + dyv[i]! * derivative(f, v));
          expectClose(dx.data, want, { rtol: 1e-4, atol: 2e-5, label: `${op}' n=${n}` });
        }
        // and against the float32 forward kernel itself (on a range where float32 differences work)
        const lo = c.lo > 0 ? Math.max(c.lo, 0.5) : Math.max(c.lo, -3),
          hi = Math.min(c.hi, 3);
        const n = 9,
          xv = values(n, 99, { ...c, lo, hi }),
          w = uniform(n, 98);
        for (let i = 0; i < n; i++) for (const k of c.kinks ?? []) if (Math.abs(xv[i]! - k) < 0.05) xv[i] = k + 0.1;
        const x = e.tensor([n], xv),
          y = e.zeros([n]),
          dy = e.tensor([n], w),
          dx = e.zeros([n]);
        e.kernels.unary_f32_backward(UnaryF32[op], dx.ptr, dy.ptr, x.ptr, n, p, q);
        const loss = () => {
          e.kernels.unary_f32_forward(UnaryF32[op], y.ptr, x.ptr, n, p, q);
          return Array.from(y.data).reduce((s, v, i) => s + v * w[i]!, 0);
        };
        expectGradientMatches(x, dx.data, loss, { eps: 1e-3, rtol: 2e-2, atol: 5e-3, label: op });
      });
    },
  );
});

describe.each(BUILDS_UNDER_TEST)("integer unary and cast kernels (%s)", (build) => {
  const ints = (n: number, seed: number, lo: number, hi: number) => Array.from(uniform(n, seed, lo, hi), Math.round);

  it.each(TILE_EDGE_SIZES)("unary_i32 ops, n=%i", async (n) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const xv = ints(n, n, -70000, 70000);
      xv[0] = -2147483648;
      const x = e.ints([n], xv),
        y = e.ints([n]);
      const check = (code: number, p: number, q: number, f: (v: number) => number, label: string) => {
        e.kernels.unary_i32_forward(code, y.ptr, x.ptr, n, p, q);
        expect(Array.from(y.ints), label).toEqual(xv.map(f));
      };
      check(UnaryI32.Abs, 0, 0, (v) => Math.abs(v) | 0, "abs");
      check(UnaryI32.Neg, 0, 0, (v) => -v | 0, "neg");
      check(UnaryI32.Sign, 0, 0, (v) => Math.sign(v), "sign");
      check(UnaryI32.Not, 0, 0, (v) => +(v === 0), "not");
      check(UnaryI32.BitNot, 0, 0, (v) => ~v, "bitnot");
      check(UnaryI32.Clip, -5, 300, (v) => Math.min(Math.max(v, -5), 300), "clip");
      check(UnaryI32.Wrap, 8, 1, (v) => (v << 24) >> 24, "int8");
      check(UnaryI32.Wrap, 8, 0, (v) => v & 0xff, "uint8");
      check(UnaryI32.Wrap, 16, 1, (v) => (v << 16) >> 16, "int16");
      check(UnaryI32.Wrap, 16, 0, (v) => v & 0xffff, "uint16");
    });
  });

  it.each(TILE_EDGE_SIZES)("casts, n=%i", async (n) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const fv = uniform(n, n, -70000, 70000);
      const specials = [NaN, Infinity, -Infinity, 3e9, -3e9, -0.7, 0.7, 65519, 65520, 1e-6, 5.9604645e-8, 2.9802322e-8, -0, 1e-40];
      specials.slice(0, n).forEach((v, i) => (fv[i] = v));
      const iv = ints(n, n + 1, -2e9, 2e9);
      const f = e.tensor([n], fv),
        i = e.ints([n], iv),
        yf = e.zeros([n]),
        yi = e.ints([n]);
      const asF = (v: number) => Math.fround(v);
      e.kernels.cast_forward(Cast.F32ToI32, yi.ptr, f.ptr, n);
      expect(Array.from(yi.ints), "f32 -> i32").toEqual(
        Array.from(fv, (v) => (Number.isNaN(v) ? 0 : Math.max(-2147483648, Math.min(2147483647, Math.trunc(v))) | 0)),
      );
      e.kernels.cast_forward(Cast.I32ToF32, yf.ptr, i.ptr, n);
      expect(Array.from(yf.data), "i32 -> f32").toEqual(iv.map(asF));
      e.kernels.cast_forward(Cast.F32NonZero, yi.ptr, f.ptr, n);
      expect(Array.from(yi.ints), "f32 -> bool").toEqual(Array.from(fv, (v) => +(v !== 0)));
      e.kernels.cast_forward(Cast.I32NonZero, yi.ptr, i.ptr, n);
      expect(Array.from(yi.ints), "i32 -> bool").toEqual(iv.map((v) => +(v !== 0)));
      e.kernels.cast_forward(Cast.RoundHalf, yf.ptr, f.ptr, n);
      expect(Array.from(yf.data), "f32 -> f16").toEqual(Array.from(fv, (v) => asF(roundHalf(v))));
      const bv = uniform(n, n + 2, -1e5, 1e5);
      bv[0] = NaN;
      const b = e.tensor([n], bv);
      e.kernels.cast_forward(Cast.RoundBfloat16, yf.ptr, b.ptr, n);
      expect(Array.from(yf.data), "f32 -> bf16").toEqual(Array.from(bv, (v) => asF(roundBfloat16(v))));
    });
  });
});

// ---------------------------------------------------------------------------------------------
// broadcasting

/** A broadcast configuration: the operands' logical shapes and axis orders, and the output's order. */
interface Layout {
  a: [number[], Perm?];
  b: [number[], Perm?];
  y?: Perm;
  label: string;
}

const NHWC: Perm = [0, 2, 3, 1];
function layouts(): Layout[] {
  const out: Layout[] = [];
  for (const n of TILE_EDGE_SIZES) {
    out.push({ a: [[n]], b: [[n]], label: `same [${n}]` });
    out.push({ a: [[n]], b: [[]], label: `[${n}] and a scalar` });
    out.push({ a: [[1]], b: [[2, n]], label: `[1] and [2,${n}]` });
  }
  for (const c of [1, 3, 4, 5, 8, 17]) {
    // NHWC values against per-channel NCHW constants, both ways round
    out.push({ a: [[2, c, 3, 5], NHWC], b: [[c, 1, 1]], y: NHWC, label: `NHWC [2,${c},3,5] and [${c},1,1]` });
    out.push({ a: [[1, c, 1, 1]], b: [[2, c, 3, 5], NHWC], y: NHWC, label: `[1,${c},1,1] and NHWC [2,${c},3,5]` });
    out.push({ a: [[2, c, 3, 5]], b: [[1, c, 1, 1]], label: `NCHW [2,${c},3,5] and [1,${c},1,1]` });
    // the same shape in two axis orders
    out.push({ a: [[2, c, 3, 5], NHWC], b: [[2, c, 3, 5]], y: NHWC, label: `NHWC and NCHW [2,${c},3,5]` });
    // squeeze-excitation: [N,C,1,1] gates an NHWC map
    out.push({ a: [[2, c, 3, 3], NHWC], b: [[2, c, 1, 1], NHWC], y: NHWC, label: `NHWC [2,${c},3,3] and NHWC [2,${c},1,1]` });
  }
  out.push({ a: [[3, 1, 5]], b: [[4, 1]], label: "[3,1,5] and [4,1]" });
  out.push({
    a: [
      [2, 1, 7],
      [2, 1, 0],
    ],
    b: [[1, 6, 1]],
    y: [2, 1, 0],
    label: "reversed axis orders",
  });
  out.push({ a: [[]], b: [[]], label: "rank 0" });
  out.push({ a: [[0, 3]], b: [[3]], label: "empty" });
  out.push({ a: [[4, 0]], b: [[1]], label: "empty inner" });
  return out;
}

/** Lays out row-major (logical) data in `perm` order. */
function toPhysical(data: ArrayLike<number>, shape: readonly number[], perm: Perm): number[] {
  const s = logicalStrides(shape, perm);
  const out = new Array<number>(data.length);
  let k = 0;
  for (const idx of indices(shape)) out[idx.reduce((acc, v, i) => acc + v * s[i]!, 0)] = data[k++]!;
  return out;
}

/** Reads a physical (`perm`-order) buffer back in logical order. */
function toLogical(data: ArrayLike<number>, shape: readonly number[], perm: Perm): number[] {
  const s = logicalStrides(shape, perm);
  const out: number[] = [];
  for (const idx of indices(shape)) out.push(data[idx.reduce((acc, v, i) => acc + v * s[i]!, 0)]!);
  return out;
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

interface Prepared {
  a: Operand;
  b: Operand;
  y: Operand;
  av: number[];
  bv: number[];
  out: number[];
}

function prepare(l: Layout, gen: (n: number, seed: number, which: 0 | 1) => number[], seed: number): Prepared {
  const a = { shape: l.a[0], perm: l.a[1] ?? identityPerm(l.a[0].length) };
  const b = { shape: l.b[0], perm: l.b[1] ?? identityPerm(l.b[0].length) };
  const out = broadcastShape(a.shape, b.shape);
  return { a, b, y: { shape: out, perm: l.y ?? identityPerm(out.length) }, av: gen(size(a.shape), seed, 0), bv: gen(size(b.shape), seed + 1, 1), out };
}

/** Runs a binary kernel on a layout: returns the output in logical order. */
function runBinary(e: Engine, pr: Prepared, ints: boolean, outInts: boolean, call: (y: number, a: number, b: number, desc: number) => void): number[] {
  const mk = (v: number[], o: Operand) => {
    const phys = toPhysical(v, o.shape, o.perm);
    return ints ? e.ints([Math.max(1, phys.length)], phys.length ? phys : [0]) : e.tensor([Math.max(1, phys.length)], phys.length ? phys : [0]);
  };
  const a = mk(pr.av, pr.a),
    b = mk(pr.bv, pr.b);
  const n = size(pr.out);
  const y = outInts ? e.ints([n + 1]) : e.zeros([n + 1]);
  const desc = e.empty([ND_DESC_WORDS], "i32");
  if (n > 0) {
    writeNd(e.heap.i32, desc.ptr, broadcastLoop(pr.y, [pr.a, pr.b]), "test");
    call(y.ptr, a.ptr, b.ptr, desc.ptr);
  }
  const raw = outInts ? Array.from(y.ints) : Array.from(y.data);
  expect(raw[n], "nothing written past the output").toBe(0);
  return toLogical(raw.slice(0, n), pr.out, pr.y.perm);
}

/** Inputs per binary op: away from division by ~0, positive bases for Pow, ties for Max / Min. */
function binaryInputs(op: string) {
  return (n: number, seed: number, which: 0 | 1): number[] => {
    const r = rng(seed);
    return Array.from({ length: n }, (_, i) => {
      const u = r() * 2 - 1;
      if (op === "Div" || op === "FMod") return which === 1 ? Math.fround((u < 0 ? -1 : 1) * (0.5 + 2 * Math.abs(u))) : Math.fround(5 * u);
      if (op === "Pow") return which === 0 ? Math.fround(i % 5 === 0 ? -1.5 : 0.2 + 2 * Math.abs(u)) : i % 5 === 0 ? 2 : Math.fround(3 * u);
      if (op === "PowI") return which === 0 ? Math.fround(3 * u) : Math.round(4 * u);
      if (["Max", "Min", "Equal", "LessOrEqual", "GreaterOrEqual"].includes(op)) return Math.round(4 * u) / 2; // ties
      return Math.fround(3 * u);
    });
  };
}

const BINARY_F32_FORWARD = (Object.keys(BinaryF32) as (keyof typeof BinaryF32)[]).filter((k) => k !== "Selected");
const COMPARISONS = new Set(["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]);

describe.each(BUILDS_UNDER_TEST)("binary kernels (%s)", (build) => {
  it.each(BINARY_F32_FORWARD)("binary_f32_forward %s in every layout", async (op) => {
    const e = await engineFor(build);
    const cmp = COMPARISONS.has(op);
    e.tidy(() => {
      layouts().forEach((l, k) => {
        const pr = prepare(l, binaryInputs(op), 10 * k);
        const bInts = op === "PowI";
        const got = e.tidy(() => {
          return runBinary(e, pr, false, cmp, (y, a, b, d) => {
            if (bInts) {
              // PowI's exponent is i32
              const phys = toPhysical(pr.bv, pr.b.shape, pr.b.perm);
              e.heap.i32.set(phys, b >> 2);
            }
            e.kernels.binary_f32_forward(BinaryF32[op], y, a, b, d);
          });
        });
        const want = broadcastMap(BINARY[op]!, [
          { data: pr.av, shape: pr.a.shape },
          { data: pr.bv, shape: pr.b.shape },
        ]).data;
        expectCloseNaN(got, want, { rtol: op.startsWith("Pow") ? 1e-5 : 1e-6, atol: 1e-6, label: `${op} ${l.label}` });
      });
    });
  });

  it.each(Object.keys(BinaryI32) as (keyof typeof BinaryI32)[])("binary_i32_forward %s in every layout", async (op) => {
    const e = await engineFor(build);
    const logical = ["And", "Or", "Xor"].includes(op);
    const gen = (n: number, seed: number, which: 0 | 1) => {
      const r = rng(seed);
      return Array.from({ length: n }, (_, i) => {
        if (logical) return r() < 0.5 ? 1 : 0;
        if (op === "Pow") return which === 0 ? Math.round(8 * r() - 4) : Math.round(12 * r() - 2);
        if (i === 0) return which === 0 ? -2147483648 : -1; // INT_MIN / -1 wraps instead of trapping
        if (i === 1 && which === 1) return 0; // x / 0 and x mod 0 give 0
        return Math.round(2000 * r() - 1000);
      });
    };
    e.tidy(() => {
      layouts().forEach((l, k) => {
        const pr = prepare(l, gen, 20 * k);
        const got = e.tidy(() => runBinary(e, pr, true, true, (y, a, b, d) => e.kernels.binary_i32_forward(BinaryI32[op], y, a, b, d)));
        const want = broadcastMap(BINARY_I32[op]!, [
          { data: pr.av, shape: pr.a.shape },
          { data: pr.bv, shape: pr.b.shape },
        ]).data;
        expect(got, `${op} ${l.label}`).toEqual(want);
      });
    });
  });

  it("where_nd selects by a broadcast condition, f32 and i32 alike", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const shapes: [number[], Perm?][][] = [
        [[[17]], [[17]], [[17]]],
        [[[2, 5, 1, 1]], [[2, 5, 3, 4], NHWC], [[]]],
        [
          [[3, 1]],
          [[1, 9]],
          [
            [3, 9],
            [1, 0],
          ],
        ],
        [[[1, 5, 1, 1]], [[2, 5, 4, 4], NHWC], [[2, 5, 4, 4]]],
        [[[0, 2]], [[2]], [[2]]],
      ];
      shapes.forEach((ops, k) => {
        const [c, x, z] = ops.map(([s, p]) => ({ shape: s, perm: p ?? identityPerm(s.length) }));
        const out = broadcastShape(c!.shape, x!.shape, z!.shape);
        const y = { shape: out, perm: x!.perm.length === out.length ? x!.perm : identityPerm(out.length) };
        const r = rng(k);
        const cv = Array.from({ length: size(c!.shape) }, () => (r() < 0.5 ? 1 : 0));
        const xv = Array.from(uniform(size(x!.shape), k + 1)),
          zv = Array.from(uniform(size(z!.shape), k + 2));
        const put = (v: number[], o: Operand, ints: boolean) => {
          const p = toPhysical(v, o.shape, o.perm);
          return ints ? e.ints([Math.max(1, p.length)], p.length ? p : [0]) : e.tensor([Math.max(1, p.length)], p.length ? p : [0]);
        };
        const ct = put(cv, c!, true),
          xt = put(xv, x!, false),
          zt = put(zv, z!, false);
        const n = size(out),
          yt = e.zeros([Math.max(1, n)]),
          desc = e.empty([ND_DESC_WORDS], "i32");
        if (n > 0) {
          writeNd(e.heap.i32, desc.ptr, broadcastLoop(y, [c!, x!, z!]), "test");
          e.kernels.where_nd(yt.ptr, ct.ptr, xt.ptr, zt.ptr, desc.ptr);
        }
        const want = broadcastMap(
          (cc, a, b) => (cc ? a : b),
          [
            { data: cv, shape: c!.shape },
            { data: xv, shape: x!.shape },
            { data: zv, shape: z!.shape },
          ],
        );
        expect(toLogical(Array.from(yt.data).slice(0, n), out, y.perm), `where ${k}`).toEqual(want.data.map(Math.fround));
      });
    });
  });

  const GRADIENT_OPS = ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "FMod", "PRelu"] as const;
  it.each(GRADIENT_OPS)("binary_f32_backward %s: both operands, summed over broadcast axes, against finite differences", async (op) => {
    const e = await engineFor(build);
    const f = BINARY[op]!;
    const gen = (n: number, seed: number, which: 0 | 1) => {
      const v = binaryInputs(op)(n, seed, which);
      if (op === "Pow") return v.map((x, i) => (which === 0 ? Math.abs(x) + 0.2 : i % 5 === 0 ? 2 : x));
      if (op === "PRelu" && which === 0) return v.map((x) => (Math.abs(x) < 0.01 ? 0.5 : x));
      if (op === "FMod" && which === 0) return v.map((x, i) => Math.fround(x + 0.37 * (i % 3)));
      return v;
    };
    e.tidy(() => {
      layouts().forEach((l, k) => {
        const pr = prepare(l, gen, 30 * k);
        const n = size(pr.out);
        const g = Array.from(uniform(n, k));
        for (const which of [0, 1] as const) {
          const t = which === 0 ? pr.a : pr.b;
          const t0 = Array.from(uniform(size(t.shape), 40 + k)); // accumulates onto this
          const got = e.tidy(() => {
            const mk = (v: number[], o: Operand) => {
              const phys = toPhysical(v, o.shape, o.perm);
              return e.tensor([Math.max(1, phys.length)], phys.length ? phys : [0]);
            };
            const a = mk(pr.av, pr.a),
              b = mk(pr.bv, pr.b),
              dt = mk(t0, t),
              dy = mk(g, pr.y);
            const desc = e.empty([ND_DESC_WORDS], "i32");
            if (n > 0) {
              writeNd(e.heap.i32, desc.ptr, broadcastLoop(pr.y, [pr.a, pr.b]), "test");
              e.kernels.binary_f32_backward(BinaryF32[op], which, dt.ptr, dy.ptr, a.ptr, b.ptr, desc.ptr);
            }
            return toLogical(Array.from(dt.data).slice(0, size(t.shape)), t.shape, t.perm);
          });
          // d/d(operand) by central differences of the float64 op, element by element
          const ai = (i: number) => pr.av[flat(pr.a.shape, pr.out, i)]!,
            bi = (i: number) => pr.bv[flat(pr.b.shape, pr.out, i)]!;
          const want = reduceToShape(pr.out, t.shape, (i) => g[i]! * derivative((v) => (which === 0 ? f(v, bi(i)) : f(ai(i), v)), which === 0 ? ai(i) : bi(i)));
          expectClose(
            got,
            want.map((v, j) => v + t0[j]!),
            { rtol: 1e-4, atol: 3e-5, label: `d${op}/d${"ab"[which]} ${l.label}` },
          );
        }
      });
    });
  });

  it("binary_f32_backward Selected: the gradient of a variadic Max goes where the input equals the output", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      for (const n of TILE_EDGE_SIZES) {
        const xv = Array.from(uniform(n, n)),
          yv = xv.map((v, i) => (i % 3 ? v : v + 1));
        const g = Array.from(uniform(n, n + 1));
        const x = e.tensor([n], xv),
          y = e.tensor([n], yv),
          dy = e.tensor([n], g),
          dx = e.zeros([n]);
        const desc = e.empty([ND_DESC_WORDS], "i32");
        writeNd(
          e.heap.i32,
          desc.ptr,
          broadcastLoop({ shape: [n], perm: [0] }, [
            { shape: [n], perm: [0] },
            { shape: [n], perm: [0] },
          ]),
          "test",
        );
        e.kernels.binary_f32_backward(BinaryF32.Selected, 0, dx.ptr, dy.ptr, x.ptr, y.ptr, desc.ptr);
        expectClose(
          dx.data,
          g.map((v, i) => (i % 3 ? v : 0)),
          { atol: 0, rtol: 0, label: `n=${n}` },
        );
      }
    });
  });
});

/** The row-major index into a tensor of `shape` read at flat output index i of `out` (broadcast). */
function flat(shape: readonly number[], out: readonly number[], i: number): number {
  const idx: number[] = [];
  for (let d = out.length - 1; d >= 0; d--) {
    idx.unshift(i % out[d]!);
    i = Math.floor(i / out[d]!);
  }
  const off = out.length - shape.length;
  let f = 0;
  for (let d = 0; d < shape.length; d++) f = f * shape[d]! + (shape[d] === 1 ? 0 : idx[off + d]!);
  return f;
}
