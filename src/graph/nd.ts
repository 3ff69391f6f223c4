// Host side of the N-d strided descriptors of assembly/nd.ts: strides, axis coalescing, writing.
import { SimdnetError } from "../errors.js";

/** Word offsets of an N-d descriptor block: the contract with assembly/nd.ts (tests/nd.test.ts checks it). */
export const ND_MAX_RANK = 8;
export const ND_MAX_OPERANDS = 4;
export const ND_DIMS = 1;
export const ND_STRIDES = ND_DIMS + ND_MAX_RANK;
export const ND_DESC_WORDS = ND_STRIDES + ND_MAX_OPERANDS * ND_MAX_RANK + ND_MAX_RANK;
export const ND_DESC_BYTES = ND_DESC_WORDS * 4;

/** A loop over `dims` (outermost first) and each operand's stride along every axis, in elements. */
export interface StridedLoop {
  dims: number[];
  /** strides[k][i]: operand k's stride along axis i (operand 0 is the output). */
  strides: number[][];
}

/** Row-major strides (elements) of `dims`. */
export function contiguousStrides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i]!;
  }
  return s;
}

/**
 * The same loop with extent-1 axes dropped and neighbouring axes merged wherever every operand
 * steps through them as one (stride[i] = stride[i + 1] * dims[i + 1]). Keeps at least one axis.
 */
export function coalesce(loop: StridedLoop): StridedLoop {
  const dims: number[] = [];
  const strides: number[][] = loop.strides.map(() => []);
  for (let i = 0; i < loop.dims.length; i++) {
    const d = loop.dims[i]!;
    if (d === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && loop.strides.every((s, k) => strides[k]![last] === s[i]! * d)) {
      dims[last] = dims[last]! * d;
      loop.strides.forEach((s, k) => (strides[k]![last] = s[i]!));
      continue;
    }
    dims.push(d);
    loop.strides.forEach((s, k) => strides[k]!.push(s[i]!));
  }
  if (dims.length === 0) return { dims: [1], strides: loop.strides.map(() => [0]) };
  return { dims, strides };
}

/** Writes `loop` (coalesced first) as a descriptor at byte address `ptr` of the i32 view `i32`. */
export function writeNd(i32: Int32Array, ptr: number, loop: StridedLoop, what: string): void {
  const c = coalesce(loop);
  if (c.dims.length > ND_MAX_RANK) throw new SimdnetError(`${what}: a strided loop of ${c.dims.length} axes (at most ${ND_MAX_RANK})`);
  if (c.strides.length > ND_MAX_OPERANDS) throw new SimdnetError(`${what}: ${c.strides.length} operands (at most ${ND_MAX_OPERANDS})`);
  const base = ptr >> 2;
  i32[base] = c.dims.length;
  c.dims.forEach((d, i) => (i32[base + ND_DIMS + i] = d));
  c.strides.forEach((s, k) => s.forEach((v, i) => (i32[base + ND_STRIDES + k * ND_MAX_RANK + i] = v)));
}
