// Index helpers of the ONNX <-> Model converters (to-model.ts, export.ts) and of the layer kinds
// they add (layers.ts): permutations of row-major arrays (NCHW <-> NHWC weights) and the source
// index of every output element of a pad or a nearest resize. HOST-SIDE: these loops run in
// JavaScript, not in the SIMD kernels (ONNX files run through InferenceSession's kernels).
import { fail, fmtShape } from "../errors.js";
import type { HostData } from "./model.js";

export const sizeOfDims = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Row-major strides of `dims`. */
export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i]!;
  }
  return s;
}

/** HOST-SIDE. y = transpose(x, perm): y.dims[i] = x.dims[perm[i]] (ONNX Transpose). */
export function permute<T extends HostData>(x: T, dims: readonly number[], perm: readonly number[], out?: T): T {
  const rank = dims.length;
  const xs = stridesOf(dims);
  const yd = perm.map((p) => dims[p]!);
  const n = x.length;
  const y = out ?? new (x.constructor as new (n: number) => T)(n);
  if (n === 0) return y;
  // Walk y in order with an odometer; the matching x offset is the sum of permuted strides.
  const st = perm.map((p) => xs[p]!);
  const idx = new Array<number>(rank).fill(0);
  const inner = rank > 0 ? yd[rank - 1]! : 1;
  const innerStride = rank > 0 ? st[rank - 1]! : 0;
  let off = 0;
  for (let i = 0; i < n; i += inner) {
    for (let j = 0, o = off; j < inner; j++, o += innerStride) y[i + j] = x[o]!;
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]!++;
      off += st[d]!;
      if (idx[d]! < yd[d]!) break;
      off -= st[d]! * yd[d]!;
      idx[d] = 0;
    }
  }
  return y;
}

export type PadMode = "constant" | "reflect" | "edge";

/** Largest dimension a host-side result may have (32-bit sizes). */
const MAX_DIM = 2 ** 31 - 1;

/**
 * The shape ONNX Pad makes of `dims` with `pads` (checked: 2 x rank integers, no axis cropped
 * below zero or grown past 2^31 - 1, no empty axis padded in reflect / edge mode). Allocates nothing.
 */
export function padOutputShape(dims: readonly number[], pads: readonly number[], mode: PadMode): number[] {
  const r = dims.length;
  if (pads.length !== 2 * r || pads.some((p) => !Number.isSafeInteger(p)))
    fail("Pad", `pads must be ${2 * r} integers for ${fmtShape(dims)}, got [${pads.join(",")}]`);
  const yd = dims.map((d, i) => d + pads[i]! + pads[i + r]!);
  if (yd.some((d) => d < 0)) fail("Pad", `pads [${pads.join(",")}] crop ${fmtShape(dims)} below zero`);
  if (yd.some((d) => d > MAX_DIM)) fail("Pad", `pads [${pads.join(",")}] grow ${fmtShape(dims)} to ${fmtShape(yd)}: dimensions must be at most ${MAX_DIM}`);
  if (mode !== "constant" && sizeOfDims(yd) > 0 && dims.some((d, i) => d === 0 && yd[i]! > 0)) fail("Pad", `mode ${mode} cannot pad an empty axis`);
  return yd;
}

/**
 * HOST-SIDE. For ONNX Pad of `dims` by `pads`: the source element (row-major offset) of every
 * output element, -1 where constant mode fills. Forward gathers y[i] = x[index[i]]; the gradient
 * scatters dx[index[i]] += dy[i].
 */
export function padSourceIndex(dims: readonly number[], pads: readonly number[], mode: PadMode): { index: Int32Array; dims: number[] } {
  const r = dims.length;
  const yd = padOutputShape(dims, pads, mode);
  const n = sizeOfDims(yd);
  const index = new Int32Array(n);
  if (n === 0) return { index, dims: yd };
  const xs = stridesOf(dims);
  const idx = new Array<number>(r).fill(0);
  for (let i = 0; i < n; i++) {
    let off = 0,
      inside = true;
    for (let d = 0; d < r; d++) {
      let c = idx[d]! - pads[d]!;
      const len = dims[d]!;
      if (c < 0 || c >= len) {
        if (mode === "constant") {
          inside = false;
          break;
        }
        if (mode === "edge") c = c < 0 ? 0 : len - 1;
        else {
          if (len === 1) c = 0;
          else {
            const period = 2 * (len - 1);
            c = ((c % period) + period) % period;
            if (c >= len) c = period - c;
          }
        }
      }
      off += c * xs[d]!;
    }
    index[i] = inside ? off : -1;
    for (let d = r - 1; d >= 0; d--) {
      if (++idx[d]! < yd[d]!) break;
      idx[d] = 0;
    }
  }
  return { index, dims: yd };
}

export interface NearestOptions {
  /** ONNX coordinate_transformation_mode. */
  coordinateMode: string;
  /** ONNX nearest_mode: round_prefer_floor, round_prefer_ceil, floor, ceil. */
  nearestMode: string;
}

/** The input index along one axis for output index `o` (ONNX Resize, nearest). */
function nearestIndex(o: number, inLen: number, outLen: number, scale: number, opt: NearestOptions): number {
  let x: number;
  switch (opt.coordinateMode) {
    case "asymmetric":
      x = o / scale;
      break;
    case "align_corners":
      x = outLen === 1 ? 0 : (o * (inLen - 1)) / (outLen - 1);
      break;
    case "pytorch_half_pixel":
      x = outLen > 1 ? (o + 0.5) / scale - 0.5 : 0;
      break;
    case "tf_half_pixel_for_nn":
      x = (o + 0.5) / scale;
      break;
    case "half_pixel":
      x = (o + 0.5) / scale - 0.5;
      break;
    default:
      fail("Resize", `coordinate_transformation_mode "${opt.coordinateMode}" is not supported with nearest`);
  }
  let i: number;
  switch (opt.nearestMode) {
    case "round_prefer_floor":
      i = x === Math.floor(x) + 0.5 ? Math.floor(x) : Math.round(x);
      break;
    case "round_prefer_ceil":
      i = Math.round(x);
      break;
    case "floor":
      i = Math.floor(x);
      break;
    case "ceil":
      i = Math.ceil(x);
      break;
    default:
      fail("Resize", `nearest_mode "${opt.nearestMode}" is not supported`);
  }
  return Math.min(Math.max(i, 0), inLen - 1);
}

/** HOST-SIDE. The source offset of every output element of a nearest resize (ONNX Resize mode nearest / Upsample). */
export function nearestSourceIndex(dims: readonly number[], outDims: readonly number[], scales: readonly number[], opt: NearestOptions): Int32Array {
  const r = dims.length;
  const maps = outDims.map((len, d) => Int32Array.from({ length: len }, (_, o) => nearestIndex(o, dims[d]!, len, scales[d]!, opt)));
  const xs = stridesOf(dims);
  const n = sizeOfDims(outDims);
  const index = new Int32Array(n);
  const idx = new Array<number>(r).fill(0);
  for (let i = 0; i < n; i++) {
    let off = 0;
    for (let d = 0; d < r; d++) off += maps[d]![idx[d]!]! * xs[d]!;
    index[i] = off;
    for (let d = r - 1; d >= 0; d--) {
      if (++idx[d]! < outDims[d]!) break;
      idx[d] = 0;
    }
  }
  return index;
}
