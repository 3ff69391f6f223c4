// Host side of assembly/remap.ts: a remap (every y element one x element or the fill value, chosen
// per axis) as the plan block remap_nd reads. Pad, Tile and nearest Resize describe themselves as
// one RemapAxis per physical axis of y; buildRemap folds and compresses them into words.
import { SimdnetError } from "../errors.js";

/** Word offsets of a remap plan: the contract with assembly/remap.ts (tests/movement-kernels.test.ts checks it). */
export const REMAP_MAX_OUTER = 8;
const DIMS = 4;
const TABLES = DIMS + REMAP_MAX_OUTER;
const RUNS = TABLES + REMAP_MAX_OUTER;
export const REMAP_HEADER_WORDS = RUNS + 1 + 2 * REMAP_MAX_OUTER;
const COPY = 0,
  FILL = 1,
  GATHER = 2,
  REPEAT = 3;
/** Fewest elements a REPEAT run covers (at least 2 elements of x, each at least twice). */
const MIN_REPEAT = 8;
/** Shortest constant-step stretch of a row that becomes its own COPY run (shorter ones are gathered). */
const MIN_RUN = 4;

/**
 * An upper bound of buildRemap's words for an output of physical dims `dims` (from the dims alone:
 * plans size their parameters before anything is built).
 */
export function remapWordsBound(dims: readonly number[]): number {
  return REMAP_HEADER_WORDS + dims.reduce((a, b) => a + b, 0) + 6 * (dims[dims.length - 1] ?? 1) + 5;
}

/** One physical axis of y: for each of its indices, the index along the same axis of x it reads, or -1 (fill). */
export interface RemapAxis {
  readonly src: ArrayLike<number>;
  /** x's stride (elements) along this axis. */
  readonly stride: number;
}

/**
 * The plan words of a remap of y (physical axes `axes`, outermost first, y contiguous) from x.
 * `fill` is the fill value's bits. Axes of extent 1 are folded away, trailing axes that x reads
 * in order are merged into the rows.
 */
export function buildRemap(axes: readonly RemapAxis[], fill: number, what: string): Int32Array {
  if (axes.length === 0) axes = [{ src: [0], stride: 0 }];
  // element offsets per axis (-1: fill)
  let offs: Int32Array[] = axes.map((a) => Int32Array.from(a.src, (s) => (s < 0 ? -1 : s * a.stride)));
  // axes of extent 1 (but the last): their one offset goes into the next axis
  let carry = 0;
  const kept: Int32Array[] = [];
  offs.forEach((o, i) => {
    if (o.length === 1 && i < offs.length - 1) {
      carry = carry < 0 || o[0]! < 0 ? -1 : carry + o[0]!;
      return;
    }
    kept.push(carry === 0 ? o : o.map((v) => (v < 0 || carry < 0 ? -1 : v + carry)));
    carry = 0;
  });
  offs = kept;
  // merge the last axis into the row while the one before it is read in order and contiguously
  const strideOf = (o: Int32Array): number | undefined => {
    if (o.length < 2) return o.length === 1 && o[0]! >= 0 ? 0 : undefined;
    const s = o[1]! - o[0]!;
    for (let i = 0; i < o.length; i++) if (o[i]! < 0 || o[i]! !== o[0]! + i * s) return undefined;
    return s;
  };
  while (offs.length > 1) {
    const last = offs[offs.length - 1]!,
      prev = offs[offs.length - 2]!;
    const s = strideOf(last),
      ps = strideOf(prev);
    if (s !== 1 || last[0] !== 0 || ps !== last.length) break;
    const merged = new Int32Array(prev.length * last.length);
    for (let i = 0; i < merged.length; i++) merged[i] = prev[0]! + i;
    offs.splice(offs.length - 2, 2, merged);
  }
  const outer = offs.slice(0, -1),
    row = offs[offs.length - 1]!;
  if (outer.length > REMAP_MAX_OUTER) throw new SimdnetError(`${what}: a remap of ${outer.length + 1} axes (at most ${REMAP_MAX_OUTER + 1})`);
  // the row as runs
  const runs: number[][] = [];
  const gathers: { run: number[]; table: number[] }[] = [];
  let pending: { run: number[]; table: number[] } | undefined;
  const n = row.length;
  for (let j = 0; j < n; ) {
    if (row[j]! < 0) {
      let k = j;
      while (k < n && row[k]! < 0) k++;
      pending = undefined;
      runs.push([FILL, j, k - j, 0, 0]);
      j = k;
      continue;
    }
    // each element of a unit-step stretch of x `copies` times in a row (nearest upsampling)
    let copies = 1;
    while (j + copies < n && row[j + copies] === row[j]) copies++;
    if (copies >= 2) {
      let groups = 1;
      const same = (g: number) => {
        for (let r = 0; r < copies; r++) if (row[j + g * copies + r] !== row[j]! + g) return false;
        return true;
      };
      while (j + (groups + 1) * copies <= n && same(groups)) groups++;
      if (groups >= 2 && groups * copies >= MIN_REPEAT) {
        pending = undefined;
        runs.push([REPEAT, j, groups * copies, row[j]!, copies]);
        j += groups * copies;
        continue;
      }
    }
    let k = j + 1;
    const step = k < n && row[k]! >= 0 ? row[k]! - row[j]! : 0;
    while (k < n && row[k]! >= 0 && row[k]! - row[k - 1]! === step) k++;
    if (k - j >= MIN_RUN || (j === 0 && k === n)) {
      pending = undefined;
      runs.push([COPY, j, k - j, row[j]!, step]);
      j = k;
      continue;
    }
    if (!pending) {
      pending = { run: [GATHER, j, 0, 0, 0], table: [] };
      runs.push(pending.run);
      gathers.push(pending);
    }
    pending.table.push(row[j]!);
    pending.run[2]!++;
    j++;
  }
  const tableWords = outer.reduce((a, o) => a + o.length, 0) + gathers.reduce((a, g) => a + g.table.length, 0);
  const words = new Int32Array(REMAP_HEADER_WORDS + tableWords + 5 * runs.length);
  words[0] = outer.length;
  words[1] = n;
  words[2] = runs.length;
  words[3] = fill | 0;
  let at = REMAP_HEADER_WORDS;
  outer.forEach((o, a) => {
    words[DIMS + a] = o.length;
    words[TABLES + a] = at;
    words.set(o, at);
    at += o.length;
  });
  for (const g of gathers) {
    g.run[3] = at;
    words.set(g.table, at);
    at += g.table.length;
  }
  words[RUNS] = at;
  for (const r of runs) {
    words.set(r, at);
    at += 5;
  }
  return words;
}
