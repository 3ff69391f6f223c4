// Row helpers of the data-movement kernels (inlined into them; not kernels themselves, so not
// exported from assembly/index.ts). Pointers are byte addresses, 4-byte aligned.

/** y[j * sy] = x[j * sx] for j < n (strides in elements; 4-byte elements moved as bits). */
// @ts-ignore: decorator
@inline export function copyRow(y: usize, x: usize, n: i32, sy: isize, sx: isize): void {
  let j = 0;
  if (sy == 1 && sx == 1) {
    if (ASC_FEATURE_SIMD) {
      for (; j + 16 <= n; j += 16) {
        const b = <usize>j << 2;
        v128.store(y + b, v128.load(x + b));
        v128.store(y + b + 16, v128.load(x + b + 16));
        v128.store(y + b + 32, v128.load(x + b + 32));
        v128.store(y + b + 48, v128.load(x + b + 48));
      }
      for (; j + 4 <= n; j += 4) v128.store(y + (<usize>j << 2), v128.load(x + (<usize>j << 2)));
    }
    for (; j < n; j++) store<i32>(y + (<usize>j << 2), load<i32>(x + (<usize>j << 2)));
    return;
  }
  if (sy == 1 && sx == 0) {
    fillRow(y, load<i32>(x), n);
    return;
  }
  let yp = y, xp = x;
  const dy = sy << 2, dx = sx << 2;
  for (; j < n; j++) {
    store<i32>(yp, load<i32>(xp));
    yp += dy;
    xp += dx;
  }
}

/** n contiguous elements set to the bits v. */
// @ts-ignore: decorator
@inline export function fillRow(y: usize, v: i32, n: i32): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    const s = i32x4.splat(v);
    for (; j + 4 <= n; j += 4) v128.store(y + (<usize>j << 2), s);
  }
  for (; j < n; j++) store<i32>(y + (<usize>j << 2), v);
}

/**
 * d[j * sd] += s[j * ss] for j < n (f32). sd = 0 sums the row into one element: four lanes, then
 * the lanes (a contiguous row), or in order.
 */
// @ts-ignore: decorator
@inline export function addRow(d: usize, s: usize, n: i32, sd: isize, ss: isize): void {
  let j = 0;
  if (sd == 1 && ss == 1) {
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= n; j += 4) {
        const b = <usize>j << 2;
        v128.store(d + b, f32x4.add(v128.load(d + b), v128.load(s + b)));
      }
    }
    for (; j < n; j++) {
      const b = <usize>j << 2;
      store<f32>(d + b, load<f32>(d + b) + load<f32>(s + b));
    }
    return;
  }
  if (sd == 0 && ss == 1) {
    let acc: f32 = 0;
    if (ASC_FEATURE_SIMD) {
      let v = f32x4.splat(0);
      for (; j + 4 <= n; j += 4) v = f32x4.add(v, v128.load(s + (<usize>j << 2)));
      acc = f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
    }
    for (; j < n; j++) acc += load<f32>(s + (<usize>j << 2));
    store<f32>(d, load<f32>(d) + acc);
    return;
  }
  let dp = d, sp = s;
  const dd = sd << 2, ds = ss << 2;
  for (; j < n; j++) {
    store<f32>(dp, load<f32>(dp) + load<f32>(sp));
    dp += dd;
    sp += ds;
  }
}
