/**
 * mulberry32: a fast seeded generator of uniform numbers in [0, 1) from a 32-bit seed. The one
 * source of randomness for weight init, shuffling and augmentation: plain float64 JS arithmetic,
 * so the same seed gives the same sequence in every build and runtime.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
