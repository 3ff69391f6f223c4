// Plain float64 references for the element-wise kernels (assembly/unary.ts, broadcast.ts), written
// from the ONNX definitions with JavaScript's double-precision Math, and an N-d broadcasting loop
// over logical indices (no strides, no tricks).

const SQRT1_2 = Math.SQRT1_2;

/** erf in double precision: its Taylor series below 2.5, the erfc continued fraction above. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a < 2.5) {
    let term = a,
      sum = a;
    for (let n = 1; n < 100; n++) {
      term *= (-a * a) / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * sum * (2 / Math.sqrt(Math.PI));
  }
  // erfc(a) = exp(-a^2) / sqrt(pi) * 1 / (a + (1/2) / (a + 1 / (a + (3/2) / (a + 2 / (a + ...)))))
  let f = a;
  for (let k = 60; k >= 1; k--) f = a + k / 2 / f;
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

const softplus = (x: number): number => (x > 30 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));

/** Round half to even. */
export function roundEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** a^b with IEEE's special cases (JavaScript's ** returns NaN for 1 ** NaN and 1 ** inf). */
export const pow = (a: number, b: number): number => (b === 0 || a === 1 ? 1 : a ** b);

/** The unary ops of assembly/unary.ts by UnaryF32 name: f(x, p, q) in float64. */
export const UNARY: Record<string, (x: number, p: number, q: number) => number> = {
  Abs: (x) => Math.abs(x),
  Neg: (x) => -x,
  Sqrt: (x) => Math.sqrt(x),
  Exp: (x) => Math.exp(x),
  Log: (x) => Math.log(x),
  Reciprocal: (x) => 1 / x,
  Erf: (x) => erf(x),
  Sign: (x) => Math.sign(x),
  Floor: (x) => Math.floor(x),
  Ceil: (x) => Math.ceil(x),
  Round: (x) => roundEven(x),
  Sin: (x) => Math.sin(x),
  Cos: (x) => Math.cos(x),
  Tan: (x) => Math.tan(x),
  Asin: (x) => Math.asin(x),
  Acos: (x) => Math.acos(x),
  Atan: (x) => Math.atan(x),
  Sinh: (x) => Math.sinh(x),
  Cosh: (x) => Math.cosh(x),
  Asinh: (x) => Math.asinh(x),
  Acosh: (x) => Math.acosh(x),
  Atanh: (x) => Math.atanh(x),
  Clip: (x, p, q) => Math.min(Math.max(x, p), q),
  HardSigmoid: (x, p, q) => Math.max(0, Math.min(1, p * x + q)),
  HardSwish: (x) => x * Math.max(0, Math.min(1, x / 6 + 0.5)),
  Elu: (x, p) => (x > 0 ? x : p * Math.expm1(x)),
  Selu: (x, p, q) => q * (x > 0 ? x : p * Math.expm1(x)),
  Celu: (x, p) => Math.max(0, x) + Math.min(0, p * Math.expm1(x / p)),
  Gelu: (x) => 0.5 * x * (1 + erf(x * SQRT1_2)),
  GeluTanh: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  Mish: (x) => x * Math.tanh(softplus(x)),
  Softplus: (x) => softplus(x),
  Softsign: (x) => x / (1 + Math.abs(x)),
  ThresholdedRelu: (x, p) => (x > p ? x : 0),
  Affine: (x, p, q) => p * x + q,
  Square: (x) => x * x,
  PowConst: (x, p) => pow(x, p),
  IsNaN: (x) => (Number.isNaN(x) ? 1 : 0),
  IsInf: (x, p, q) => ((x === Infinity && p !== 0) || (x === -Infinity && q !== 0) ? 1 : 0),
};

/** The binary f32 ops of assembly/broadcast.ts by BinaryF32 name, in float64. */
export const BINARY: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b,
  Pow: (a, b) => pow(a, b),
  PowI: (a, b) => pow(a, b),
  Max: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)),
  Min: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)),
  FMod: (a, b) => a % b,
  PRelu: (a, b) => (a < 0 ? a * b : a),
  Equal: (a, b) => (a === b ? 1 : 0),
  Less: (a, b) => (a < b ? 1 : 0),
  Greater: (a, b) => (a > b ? 1 : 0),
  LessOrEqual: (a, b) => (a <= b ? 1 : 0),
  GreaterOrEqual: (a, b) => (a >= b ? 1 : 0),
};

const wrap32 = (v: number) => v | 0;

/** The binary i32 ops by BinaryI32 name (wrapping like i32 arithmetic; x / 0 and x mod 0 give 0). */
export const BINARY_I32: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => wrap32(a + b),
  Sub: (a, b) => wrap32(a - b),
  Mul: (a, b) => Math.imul(a, b),
  Div: (a, b) => (b === 0 ? 0 : wrap32(Math.trunc(a / b))),
  Mod: (a, b) => (b === 0 ? 0 : wrap32(a - Math.floor(a / b) * b)),
  FMod: (a, b) => (b === 0 ? 0 : wrap32(a % b)),
  Max: (a, b) => Math.max(a, b),
  Min: (a, b) => Math.min(a, b),
  Pow: (a, b) => {
    if (b < 0) return a === 1 ? 1 : a === -1 ? (b % 2 ? -1 : 1) : 0;
    let r = 1n;
    for (let i = 0; i < b; i++) r = BigInt.asIntN(32, r * BigInt(a));
    return Number(r);
  },
  Equal: (a, b) => +(a === b),
  Less: (a, b) => +(a < b),
  Greater: (a, b) => +(a > b),
  LessOrEqual: (a, b) => +(a <= b),
  GreaterOrEqual: (a, b) => +(a >= b),
  And: (a, b) => a & b,
  Or: (a, b) => a | b,
  Xor: (a, b) => a ^ b,
};

/** NumPy broadcasting of shapes (throws when they do not broadcast). */
export function broadcastShape(...shapes: (readonly number[])[]): number[] {
  const r = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(r).fill(1);
  for (const s of shapes) {
    s.forEach((d, i) => {
      const k = r - s.length + i;
      if (d !== 1 && out[k] !== 1 && out[k] !== d) throw new Error(`shapes do not broadcast: ${shapes.map((x) => `[${x}]`).join(" ")}`);
      if (d !== 1) out[k] = d;
    });
  }
  return out;
}

/** Row-major (logical) index of `idx` (an index of the broadcast shape) into a tensor of `shape`. */
function flatIndex(shape: readonly number[], idx: readonly number[]): number {
  const off = idx.length - shape.length;
  let f = 0;
  for (let i = 0; i < shape.length; i++) f = f * shape[i]! + (shape[i] === 1 ? 0 : idx[off + i]!);
  return f;
}

/** Every index of `shape` in row-major order. */
export function* indices(shape: readonly number[]): Generator<number[]> {
  const n = shape.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < n; k++) {
    yield idx;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
}

/** y[i] = f(x0[i], x1[i], ...) with NumPy broadcasting, all tensors row-major (logical order). */
export function broadcastMap(
  f: (...v: number[]) => number,
  inputs: { data: ArrayLike<number>; shape: readonly number[] }[],
): { data: number[]; shape: number[] } {
  const shape = broadcastShape(...inputs.map((x) => x.shape));
  const data: number[] = [];
  for (const idx of indices(shape)) data.push(f(...inputs.map((x) => x.data[flatIndex(x.shape, idx)]!)));
  return { data, shape };
}

/**
 * The gradient of a broadcast input: g[j] = sum over the output indices i that read x[j] of
 * dy[i] * dfdx(i), x of shape `shape` (row-major), the output of shape `outShape`.
 */
export function reduceToShape(outShape: readonly number[], shape: readonly number[], contrib: (flatOut: number) => number): number[] {
  const g = new Array<number>(shape.reduce((a, b) => a * b, 1)).fill(0);
  let k = 0;
  for (const idx of indices(outShape)) g[flatIndex(shape, idx)]! += contrib(k++);
  return g;
}

/** Central difference of f at x in float64 (h relative to |x|, at least 1e-6). */
export function derivative(f: (x: number) => number, x: number): number {
  const h = Math.max(1e-6, Math.abs(x) * 1e-6);
  return (f(x + h) - f(x - h)) / (2 * h);
}

/** Rounds to the nearest IEEE half (ties to even), as a number: a DataView-free bit reference. */
export function roundHalf(x: number): number {
  if (!Number.isFinite(x)) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity;
  const e = a < 2 ** -14 ? -14 : Math.floor(Math.log2(a));
  const ulp = 2 ** (e - 10);
  const r = roundEven(a / ulp) * ulp;
  return Object.is(x, -0) || x < 0 ? -r : r;
}

/** Rounds a float32 to the nearest bfloat16 (ties to even). */
export function roundBfloat16(x: number): number {
  if (!Number.isFinite(x)) return x;
  const a = Math.abs(Math.fround(x));
  if (a === 0) return x;
  const e = Math.max(Math.floor(Math.log2(a)), -126);
  const ulp = 2 ** (e - 7);
  const r = roundEven(a / ulp) * ulp;
  return x < 0 ? -r : r;
}
