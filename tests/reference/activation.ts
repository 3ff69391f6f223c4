// Plain float64 references for the activation kernels (assembly/activation.ts). Flat arrays,
// channels-last: PRelu's slope index is the element index modulo the channel count.

export const leakyReluRef = (x: ArrayLike<number>, alpha: number): number[] => Array.from(x, (v) => (v >= 0 ? v : alpha * v));

/** d/dx leaky relu, with the derivative at 0 taken as alpha (the kernel's convention). */
export const leakyReluBackwardRef = (dy: ArrayLike<number>, x: ArrayLike<number>, alpha: number): number[] =>
  Array.from(x, (v, i) => dy[i]! * (v > 0 ? 1 : alpha));

/** slope has C entries (per channel, C = last axis) or 1 (shared). */
export function preluRef(x: ArrayLike<number>, slope: ArrayLike<number>): number[] {
  return Array.from(x, (v, i) => (v >= 0 ? v : slope[i % slope.length]! * v));
}

export function preluBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, slope: ArrayLike<number>): { dx: number[]; dslope: number[] } {
  const dslope = new Array<number>(slope.length).fill(0);
  const dx = Array.from(x, (v, i) => {
    const c = i % slope.length;
    if (v <= 0) dslope[c]! += dy[i]! * v;
    return dy[i]! * (v > 0 ? 1 : slope[c]!);
  });
  return { dx, dslope };
}

export const sigmoidRef = (x: ArrayLike<number>): number[] => Array.from(x, (v) => 1 / (1 + Math.exp(-v)));

export const tanhRef = (x: ArrayLike<number>): number[] => Array.from(x, (v) => Math.tanh(v));
