// Plain float64 references for pooling over NHWC tensors, written from the ONNX operator
// definitions (MaxPool, AveragePool, GlobalMaxPool, GlobalAveragePool), one tap at a time.
import { decodeModel, decodeTensor } from "../../src/onnx/onnx-proto.js";

export interface RefPoolParams {
  kernel: [number, number];
  strides?: [number, number];
  pads?: [number, number, number, number]; // top, left, bottom, right
  autoPad?: "NOTSET" | "SAME_UPPER" | "SAME_LOWER" | "VALID";
  dilations?: [number, number];
  ceilMode?: boolean;
  countIncludePad?: boolean;
}

export interface RefGeometry {
  n: number;
  h: number;
  w: number;
  c: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  top: number;
  left: number;
  bottom: number;
  right: number;
}

/** Output length and pads along one axis, from the ONNX MaxPool/AveragePool shape formulas. */
function refAxis(
  size: number,
  k: number,
  s: number,
  d: number,
  begin: number,
  end: number,
  autoPad: string,
  ceilMode: boolean,
): [out: number, begin: number, end: number] {
  const extent = d * (k - 1) + 1;
  if (autoPad === "VALID") return [Math.ceil((size - extent + 1) / s), 0, 0];
  if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    const out = Math.ceil(size / s);
    const pad = Math.max((out - 1) * s + extent - size, 0);
    const b = autoPad === "SAME_UPPER" ? Math.floor(pad / 2) : pad - Math.floor(pad / 2);
    return [out, b, pad - b];
  }
  const exact = (size + begin + end - extent) / s + 1;
  let out = ceilMode ? Math.ceil(exact) : Math.floor(exact);
  // "Sliding windows that would start in the right padded region are ignored."
  while (ceilMode && (out - 1) * s - begin >= size) out--;
  return [out, begin, end];
}

export function refGeometry(xShape: readonly number[], p: RefPoolParams): RefGeometry {
  const [n, h, w, c] = xShape as [number, number, number, number];
  const [kh, kw] = p.kernel;
  const [sh, sw] = p.strides ?? [1, 1];
  const [dh, dw] = p.dilations ?? [1, 1];
  const [pt, pl, pb, pr] = p.pads ?? [0, 0, 0, 0];
  const autoPad = p.autoPad ?? "NOTSET";
  const ceil = (p.ceilMode ?? false) && autoPad === "NOTSET";
  const [oh, top, bottom] = refAxis(h, kh, sh, dh, pt, pb, autoPad, ceil);
  const [ow, left, right] = refAxis(w, kw, sw, dw, pl, pr, autoPad, ceil);
  return { n, h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, top, left, bottom, right };
}

/** Calls fn(iy, ix, inInput, inPaddedInput) for every tap of window (oy, ox) in row-major order. */
function forTaps(g: RefGeometry, oy: number, ox: number, fn: (iy: number, ix: number, inside: boolean, inPadded: boolean) => void): void {
  for (let ky = 0; ky < g.kh; ky++) {
    for (let kx = 0; kx < g.kw; kx++) {
      const iy = oy * g.sh - g.top + ky * g.dh;
      const ix = ox * g.sw - g.left + kx * g.dw;
      const inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
      const inPadded = iy >= -g.top && iy < g.h + g.bottom && ix >= -g.left && ix < g.w + g.right;
      fn(iy, ix, inside, inPadded);
    }
  }
}

const xIndex = (g: RefGeometry, b: number, iy: number, ix: number, ch: number) => ((b * g.h + iy) * g.w + ix) * g.c + ch;
const yIndex = (g: RefGeometry, b: number, oy: number, ox: number, ch: number) => ((b * g.oh + oy) * g.ow + ox) * g.c + ch;

/** Max pooling: y and the flat x index of the first maximum of each window (padding never wins). */
export function refMaxPool(x: ArrayLike<number>, g: RefGeometry): { y: Float64Array; argmax: Int32Array } {
  const y = new Float64Array(g.n * g.oh * g.ow * g.c);
  const argmax = new Int32Array(y.length);
  for (let b = 0; b < g.n; b++)
    for (let oy = 0; oy < g.oh; oy++)
      for (let ox = 0; ox < g.ow; ox++)
        for (let ch = 0; ch < g.c; ch++) {
          let best = -Infinity;
          let at = -1;
          forTaps(g, oy, ox, (iy, ix, inside) => {
            if (!inside) return;
            const i = xIndex(g, b, iy, ix, ch);
            if (at < 0 || x[i]! > best) {
              best = x[i]!;
              at = i;
            }
          });
          const o = yIndex(g, b, oy, ox, ch);
          y[o] = best;
          argmax[o] = at;
        }
  return { y, argmax };
}

/** Max pooling backward from the reference arg-max: dx[argmax[i]] += dy[i]. */
export function refMaxPoolBackward(dy: ArrayLike<number>, argmax: ArrayLike<number>, xSize: number): Float64Array {
  const dx = new Float64Array(xSize);
  for (let i = 0; i < dy.length; i++) dx[argmax[i]!]! += dy[i]!;
  return dx;
}

/** Number of cells window (oy, ox) divides by (ONNX AveragePool count_include_pad). */
function refCount(g: RefGeometry, oy: number, ox: number, includePad: boolean): number {
  let count = 0;
  forTaps(g, oy, ox, (_iy, _ix, inside, inPadded) => {
    if (includePad ? inPadded : inside) count++;
  });
  return count;
}

/** Average pooling: sum of in-input cells / count. */
export function refAvgPool(x: ArrayLike<number>, g: RefGeometry, includePad = false): Float64Array {
  const y = new Float64Array(g.n * g.oh * g.ow * g.c);
  for (let b = 0; b < g.n; b++)
    for (let oy = 0; oy < g.oh; oy++)
      for (let ox = 0; ox < g.ow; ox++) {
        const count = refCount(g, oy, ox, includePad);
        for (let ch = 0; ch < g.c; ch++) {
          let sum = 0;
          forTaps(g, oy, ox, (iy, ix, inside) => {
            if (inside) sum += x[xIndex(g, b, iy, ix, ch)]!;
          });
          y[yIndex(g, b, oy, ox, ch)] = count > 0 ? sum / count : 0;
        }
      }
  return y;
}

/** Average pooling backward: each in-input cell of a window gets dy / count. */
export function refAvgPoolBackward(dy: ArrayLike<number>, g: RefGeometry, includePad = false): Float64Array {
  const dx = new Float64Array(g.n * g.h * g.w * g.c);
  for (let b = 0; b < g.n; b++)
    for (let oy = 0; oy < g.oh; oy++)
      for (let ox = 0; ox < g.ow; ox++) {
        const count = refCount(g, oy, ox, includePad);
        for (let ch = 0; ch < g.c; ch++) {
          const grad = dy[yIndex(g, b, oy, ox, ch)]! / count;
          forTaps(g, oy, ox, (iy, ix, inside) => {
            if (inside) dx[xIndex(g, b, iy, ix, ch)]! += grad;
          });
        }
      }
  return dx;
}

/** Global pooling over H and W of x [n, h, w, c]: mean, max and first arg-max (flat x index). */
export function refGlobalPool(x: ArrayLike<number>, [n, h, w, c]: readonly number[]): { mean: Float64Array; max: Float64Array; argmax: Int32Array } {
  const mean = new Float64Array(n! * c!);
  const max = new Float64Array(n! * c!).fill(-Infinity);
  const argmax = new Int32Array(n! * c!).fill(-1);
  for (let b = 0; b < n!; b++)
    for (let p = 0; p < h! * w!; p++)
      for (let ch = 0; ch < c!; ch++) {
        const i = (b * h! * w! + p) * c! + ch;
        const o = b * c! + ch;
        mean[o]! += x[i]! / (h! * w!);
        if (argmax[o]! < 0 || x[i]! > max[o]!) {
          max[o] = x[i]!;
          argmax[o] = i;
        }
      }
  return { mean, max, argmax };
}

// ---- ONNX conformance data, read with the package's onnx.proto decoder (src/onnx/onnx-proto.ts) ----

export interface OnnxTensor {
  dims: number[];
  data: Float32Array;
}

/** A float TensorProto (data_type 1) from its serialized bytes. */
export function readOnnxTensor(buf: Uint8Array): OnnxTensor {
  const t = decodeTensor(buf);
  if (!(t.data instanceof Float32Array)) throw new Error(`expected a float tensor, got data_type ${t.dataType}`);
  return { dims: t.dims, data: t.data };
}

export interface OnnxNode {
  opType: string;
  attributes: Record<string, number | number[] | string>;
}

/** The single node of a one-operator ModelProto, with its int / ints / string / float attributes. */
export function readOnnxNode(buf: Uint8Array): OnnxNode {
  const node = decodeModel(buf).graph.node[0]!;
  const attributes: OnnxNode["attributes"] = {};
  for (const a of node.attribute) {
    const v = a.ints ?? a.i ?? a.s ?? a.f;
    if (v !== undefined) attributes[a.name] = v;
  }
  return { opType: node.opType, attributes };
}

/** NCHW data -> NHWC data (dims [n, c, h, w]). */
export function nchwToNhwc(data: ArrayLike<number>, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n!; b++)
    for (let ch = 0; ch < c!; ch++) for (let p = 0; p < h! * w!; p++) out[(b * h! * w! + p) * c! + ch] = data[(b * c! + ch) * h! * w! + p]!;
  return out;
}
