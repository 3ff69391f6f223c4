// Op codes of the element-wise kernel families: the host side of the `const` codes in
// assembly/unary.ts and assembly/broadcast.ts. tests/elementwise-kernels.test.ts runs every code
// against its float64 reference in every build, so a code that drifts from its kernel fails there.

/** unary_f32_forward / unary_f32_backward (p, q: the op's parameters). */
export const UnaryF32 = {
  Abs: 0,
  Neg: 1,
  Sqrt: 2,
  Exp: 3,
  Log: 4,
  Reciprocal: 5,
  Erf: 6,
  Sign: 7,
  Floor: 8,
  Ceil: 9,
  Round: 10,
  Sin: 11,
  Cos: 12,
  /** p = min, q = max */
  Clip: 13,
  /** p = alpha, q = beta */
  HardSigmoid: 14,
  HardSwish: 15,
  /** p = alpha */
  Elu: 16,
  /** p = alpha, q = gamma */
  Selu: 17,
  /** p = alpha */
  Celu: 18,
  Gelu: 19,
  GeluTanh: 20,
  Mish: 21,
  Softplus: 22,
  Softsign: 23,
  /** p = alpha */
  ThresholdedRelu: 24,
  /** p x + q */
  Affine: 25,
  Square: 26,
  /** x^p */
  PowConst: 27,
  /** i32 0/1 out */
  IsNaN: 28,
  /** i32 0/1 out; p != 0: +inf counts, q != 0: -inf counts */
  IsInf: 29,
  Tan: 30,
  Asin: 31,
  Acos: 32,
  Atan: 33,
  Sinh: 34,
  Cosh: 35,
  Asinh: 36,
  Acosh: 37,
  Atanh: 38,
} as const;
export type UnaryF32Op = keyof typeof UnaryF32;

/** unary_f32_backward takes every UnaryF32 op but these (their derivative is 0 wherever it exists, or none). */
export const UNARY_NO_GRADIENT: ReadonlySet<UnaryF32Op> = new Set(["Sign", "Floor", "Ceil", "Round", "IsNaN", "IsInf"]);

/** unary_i32_forward (p, q: i32 parameters). */
export const UnaryI32 = {
  Abs: 0,
  Neg: 1,
  Sign: 2,
  /** bool not: x == 0 */
  Not: 3,
  BitNot: 4,
  /** p = min, q = max */
  Clip: 5,
  /** to p bits, sign-extended when q != 0 */
  Wrap: 6,
} as const;

/** cast_forward modes. */
export const Cast = {
  F32ToI32: 0,
  I32ToF32: 1,
  F32NonZero: 2,
  I32NonZero: 3,
  RoundHalf: 4,
  RoundBfloat16: 5,
} as const;

/** binary_f32_forward / binary_f32_backward. */
export const BinaryF32 = {
  Add: 0,
  Sub: 1,
  Mul: 2,
  Div: 3,
  Pow: 4,
  Max: 5,
  Min: 6,
  FMod: 7,
  PRelu: 8,
  /** comparisons: i32 0/1 out */
  Equal: 9,
  Less: 10,
  Greater: 11,
  LessOrEqual: 12,
  GreaterOrEqual: 13,
  /** f32 base, i32 exponent */
  PowI: 14,
  /** backward only: dt += dy where a == b (the inputs of a variadic Max / Min against its output) */
  Selected: 15,
} as const;
export type BinaryF32Op = keyof typeof BinaryF32;

/** binary_f32_backward takes these ops (the others are not differentiable or forward-only). */
export const BINARY_GRADIENT: ReadonlySet<BinaryF32Op> = new Set(["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "FMod", "PRelu", "Selected"]);

/** binary_i32_forward. */
export const BinaryI32 = {
  Add: 0,
  Sub: 1,
  Mul: 2,
  Div: 3,
  /** sign of the divisor (fmod = 0) */
  Mod: 4,
  /** sign of the dividend (fmod = 1) */
  FMod: 5,
  Max: 6,
  Min: 7,
  Pow: 8,
  Equal: 9,
  Less: 10,
  Greater: 11,
  LessOrEqual: 12,
  GreaterOrEqual: 13,
  And: 14,
  Or: 15,
  Xor: 16,
} as const;
export type BinaryI32Op = keyof typeof BinaryI32;
