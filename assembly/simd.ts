// Shared SIMD helpers. Every kernel is compiled three times from one source:
//   scalar  : ASC_FEATURE_SIMD = false   -> the `if (ASC_FEATURE_SIMD)` blocks vanish, no v128 at all
//   simd    : ASC_FEATURE_SIMD = true    -> f32x4 mul + add
//   relaxed : also ASC_FEATURE_RELAXED_SIMD -> f32x4.relaxed_madd (fused where the CPU has FMA)
// Convention for every kernel: a SIMD main loop over multiples of 4 lanes inside
// `if (ASC_FEATURE_SIMD)`, then a scalar tail loop that also serves as the whole scalar build.

/** acc + a * b, lane-wise. Fused (single rounding) in the relaxed build when the CPU has FMA. */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, acc);
  return f32x4.add(f32x4.mul(a, b), acc);
}

/** Sum of the four f32 lanes. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** Largest of the four f32 lanes. */
// @ts-ignore: decorator
@inline export function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}
