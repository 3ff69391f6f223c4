// Remapping copies: every element of y comes from one element of x chosen per axis by a table, or
// is a fill value. Pad (constant, edge, reflect, wrap, with negative pads cropping), Tile and
// nearest-neighbour Resize / Upsample are such maps, in any axis order.
//
// A remap plan is a block of i32 words the host writes (src/graph/remap.ts; the word offsets below
// are the contract, checked by tests/movement-kernels.test.ts):
//   word 0          r, the outer axes of y (0 <= r <= REMAP_MAX_OUTER): every physical axis but the last
//   word 1          n, the extent of y's last physical axis (elements of one y row), >= 1
//   word 2          runs: how many runs describe a row (see below), >= 1
//   word 3          the fill value's bits (f32 or i32: elements are 4 bytes, never looked at)
//   words DIMS + a  extent of outer axis a (outermost first)
//   words TABLES + a  word offset (from the plan's start) of outer axis a's table: one i32 per
//                   index, the element offset it adds into x, or -1 when that index is fill
//   words RUNS      word offset of the first run
//   words COUNTERS + a, PARTIAL + a: the kernel's own loop state (the host does not write them)
// A row of y (n elements, contiguous) is a list of runs of 5 words [kind, y0, len, a, b]:
//   COPY   y[y0 + j] = x[base + a + j * b]   (b: any step, 0 repeats, -1 mirrors)
//   FILL   y[y0 + j] = fill
//   GATHER y[y0 + j] = x[base + t[j]], t the i32 table at word offset a (-1 entries fill)
//   REPEAT y[y0 + j] = x[base + a + floor(j / b)]   (b >= 2 copies of each element; len a multiple of b)
// where base is the sum of the outer axes' table entries, or the whole row is fill when one is -1.
// y is contiguous (row-major in its physical order); x is read only through the tables.
import { addRow, copyRow, fillRow } from "./rows";

export const REMAP_MAX_OUTER: i32 = 8;
const DIMS: i32 = 4;
const TABLES: i32 = DIMS + REMAP_MAX_OUTER;
const RUNS: i32 = TABLES + REMAP_MAX_OUTER;
const COUNTERS: i32 = RUNS + 1;
const PARTIAL: i32 = COUNTERS + REMAP_MAX_OUTER;
/** Words before the tables: the host places tables and runs from here on. */
export const REMAP_HEADER_WORDS: i32 = PARTIAL + REMAP_MAX_OUTER;
const COPY: i32 = 0;
const FILL: i32 = 1;
const GATHER: i32 = 2;
const REPEAT: i32 = 3;

/** REMAP_HEADER_WORDS, for the host's check that both sides agree on the layout. */
export function remap_header_words(): i32 {
  return REMAP_HEADER_WORDS;
}

// @ts-ignore: decorator
@inline function word(plan: usize, w: i32): i32 {
  return load<i32>(plan + (<usize>w << 2));
}

// @ts-ignore: decorator
@inline function setWord(plan: usize, w: i32, v: i32): void {
  store<i32>(plan + (<usize>w << 2), v);
}

/** partial[a] = partial[a - 1] + table_a[counter_a] (-1 once any entry is fill), for a >= from. */
// @ts-ignore: decorator
@inline function sums(plan: usize, from: i32, r: i32): void {
  let acc = from > 0 ? word(plan, PARTIAL + from - 1) : 0;
  for (let a = from; a < r; a++) {
    const t = word(plan, word(plan, TABLES + a) + word(plan, COUNTERS + a));
    acc = acc < 0 || t < 0 ? -1 : acc + t;
    setWord(plan, PARTIAL + a, acc);
  }
}

/** y = remap(x): see the header. y and x must not overlap. */
export function remap_nd(y: usize, x: usize, plan: usize): void {
  walk(y, x, plan, false);
}

/**
 * The adjoint of remap_nd, accumulating: dx[source of i] += dy[i] for every y element that is not
 * fill (an x element read k times gets k contributions). Same plan as the forward.
 */
export function remap_nd_backward(dx: usize, dy: usize, plan: usize): void {
  walk(dy, dx, plan, true);
}

// @ts-ignore: decorator
@inline function walk(y: usize, x: usize, plan: usize, back: bool): void {
  const r = word(plan, 0), n = word(plan, 1), runs = word(plan, 2), fill = word(plan, 3);
  const runAt = plan + (<usize>word(plan, RUNS) << 2);
  let outer: i32 = 1;
  for (let a = 0; a < r; a++) {
    outer *= word(plan, DIMS + a);
    setWord(plan, COUNTERS + a, 0);
  }
  sums(plan, 0, r);
  for (let o = 0; o < outer; o++) {
    const base = r > 0 ? word(plan, PARTIAL + r - 1) : 0;
    const yr = y + (<usize>o * <usize>n << 2);
    if (base < 0) {
      if (!back) fillRow(yr, fill, n);
    } else {
      const xb = x + (<usize>base << 2);
      for (let k = 0; k < runs; k++) {
        const rp = runAt + (<usize>k * 20);
        const kind = load<i32>(rp), y0 = load<i32>(rp, 4), len = load<i32>(rp, 8), a = load<i32>(rp, 12), b = load<i32>(rp, 16);
        const yp = yr + (<usize>y0 << 2);
        if (kind == COPY) {
          if (back) addRow(xb + (<isize>a << 2), yp, len, <isize>b, 1);
          else copyRow(yp, xb + (<isize>a << 2), len, 1, <isize>b);
        } else if (kind == FILL) {
          if (!back) fillRow(yp, fill, len);
        } else if (kind == REPEAT) {
          if (back) sumRepeats(xb + (<usize>a << 2), yp, len / b, b);
          else repeatRow(yp, xb + (<usize>a << 2), len / b, b);
        } else {
          const t = plan + (<usize>a << 2);
          for (let j = 0; j < len; j++) {
            const s = load<i32>(t + (<usize>j << 2));
            const d = yp + (<usize>j << 2);
            if (back) {
              if (s >= 0) store<f32>(xb + (<usize>s << 2), load<f32>(xb + (<usize>s << 2)) + load<f32>(d));
            } else {
              store<i32>(d, s < 0 ? fill : load<i32>(xb + (<usize>s << 2)));
            }
          }
        }
      }
    }
    // odometer over the outer axes; the partial sums from the axis that moved
    for (let a = r - 1; a >= 0; a--) {
      const i = word(plan, COUNTERS + a) + 1;
      if (i < word(plan, DIMS + a)) {
        setWord(plan, COUNTERS + a, i);
        sums(plan, a, r);
        break;
      }
      setWord(plan, COUNTERS + a, 0);
    }
  }
}

/** y[j] = x[floor(j / k)] for j < m * k (4-byte elements moved as bits). */
// @ts-ignore: decorator
@inline function repeatRow(y: usize, x: usize, m: i32, k: i32): void {
  let s = 0;
  if (ASC_FEATURE_SIMD) {
    if (k == 2) {
      for (; s + 4 <= m; s += 4) {
        const v = v128.load(x + (<usize>s << 2));
        const d = y + (<usize>s << 3);
        v128.store(d, v128.shuffle<i32>(v, v, 0, 0, 1, 1));
        v128.store(d, v128.shuffle<i32>(v, v, 2, 2, 3, 3), 16);
      }
    } else {
      for (; s < m; s++) fillRow(y + (<usize>(s * k) << 2), load<i32>(x + (<usize>s << 2)), k);
    }
  }
  for (; s < m; s++) {
    const v = load<i32>(x + (<usize>s << 2));
    const d = y + (<usize>(s * k) << 2);
    for (let r = 0; r < k; r++) store<i32>(d + (<usize>r << 2), v);
  }
}

/** The adjoint of repeatRow, accumulating: dx[s] += dy[s * k] + ... + dy[s * k + k - 1] for s < m. */
// @ts-ignore: decorator
@inline function sumRepeats(dx: usize, dy: usize, m: i32, k: i32): void {
  let s = 0;
  if (ASC_FEATURE_SIMD) {
    if (k == 2) {
      for (; s + 4 <= m; s += 4) {
        const d = dy + (<usize>s << 3);
        const a = v128.load(d), b = v128.load(d, 16);
        const sum = f32x4.add(v128.shuffle<f32>(a, b, 0, 2, 4, 6), v128.shuffle<f32>(a, b, 1, 3, 5, 7));
        const p = dx + (<usize>s << 2);
        v128.store(p, f32x4.add(v128.load(p), sum));
      }
    }
  }
  for (; s < m; s++) {
    const d = dy + (<usize>(s * k) << 2);
    let acc: f32 = 0;
    for (let r = 0; r < k; r++) acc += load<f32>(d + (<usize>r << 2));
    const p = dx + (<usize>s << 2);
    store<f32>(p, load<f32>(p) + acc);
  }
}
