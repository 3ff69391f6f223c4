// How a kernel call is cut into per-thread parts. Every split keeps each output element in the
// same register tile as one full call, so results are bitwise those of one thread.

/**
 * [0, total) as up to `parts` contiguous non-empty ranges of near-equal length whose inner
 * boundaries are multiples of `align`.
 */
export function splitRange(total: number, parts: number, align = 1): [number, number][] {
  const units = Math.ceil(total / align);
  const n = Math.max(1, Math.min(parts, units));
  const out: [number, number][] = [];
  let start = 0;
  for (let p = 0; p < n; p++) {
    const end = p === n - 1 ? total : Math.min(total, Math.round((total * (p + 1)) / n / align) * align);
    if (end > start) out.push([start, end]);
    start = Math.max(start, end);
  }
  return out;
}
