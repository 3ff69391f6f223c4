// Plain references for the counter-based random streams of assembly/random.ts, written from its
// comments: dropout's masks and fill_normal_f32's weights both hash (seed, i) with this mixer.

/** The xorshift-multiply mixer (>>>16, *0x7feb352d, >>>15, *0x846ca68b, >>>16) on u32. */
export function mix(h: number): number {
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h = (h ^ (h >>> 15)) >>> 0;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
