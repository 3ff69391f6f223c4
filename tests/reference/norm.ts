// Plain float64 references for batch normalization, LRN and concat, written from the ONNX operator
// definitions (channels last: x is viewed as [rows, C]). Arrays in, Float64Array out.
import { decodeTensor } from "../../src/onnx/onnx-proto.js";
type Arr = ArrayLike<number>;

/** ONNX BatchNormalization, training_mode = 0. */
export function batchNormInferenceRef(x: Arr, scale: Arr, bias: Arr, mean: Arr, variance: Arr, C: number, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    y[i] = (scale[c]! * (x[i]! - mean[c]!)) / Math.sqrt(variance[c]! + eps) + bias[c]!;
  }
  return y;
}

/** Batch mean and biased / unbiased variance per channel of x viewed as [rows, C]. */
export function momentsRef(x: Arr, C: number): { mean: Float64Array; varBiased: Float64Array; varUnbiased: Float64Array } {
  const rows = x.length / C;
  const mean = new Float64Array(C);
  const ss = new Float64Array(C);
  for (let i = 0; i < x.length; i++) mean[i % C]! += x[i]!;
  for (let c = 0; c < C; c++) mean[c]! /= rows;
  for (let i = 0; i < x.length; i++) ss[i % C]! += (x[i]! - mean[i % C]!) ** 2;
  return { mean, varBiased: ss.map((s) => s / rows), varUnbiased: ss.map((s) => s / (rows - 1)) };
}

/** ONNX BatchNormalization, training_mode = 1: y with the batch statistics. */
export function batchNormTrainingRef(x: Arr, scale: Arr, bias: Arr, C: number, eps: number) {
  const m = momentsRef(x, C);
  const invStd = m.varBiased.map((v) => 1 / Math.sqrt(v + eps));
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    y[i] = (x[i]! - m.mean[c]!) * invStd[c]! * scale[c]! + bias[c]!;
  }
  return { y, invStd, ...m };
}

/**
 * Gradient of sum(w * batchNormTraining(x)) in float64, by the chain rule written out per element
 * (not the folded formula the kernel uses): dx_i = sum_j w_j dy_j/dx_i.
 */
export function batchNormBackwardRef(dy: Arr, x: Arr, scale: Arr, C: number, eps: number) {
  const rows = x.length / C;
  const { mean, invStd } = batchNormTrainingRef(x, scale, new Float64Array(C), C, eps);
  const dx = new Float64Array(x.length);
  const dscale = new Float64Array(C);
  const dbias = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const s = invStd[c]!;
    // xhat_j = (x_j - mu) * s; d xhat_j / d x_i = s * (delta_ij - 1/M) - (x_j - mu) * s^3 * (x_i - mu) / M
    for (let r = 0; r < rows; r++) {
      const j = r * C + c;
      dbias[c]! += dy[j]!;
      dscale[c]! += dy[j]! * (x[j]! - mean[c]!) * s;
    }
    for (let ri = 0; ri < rows; ri++) {
      const i = ri * C + c;
      let g = 0;
      for (let rj = 0; rj < rows; rj++) {
        const j = rj * C + c;
        const dxhat = s * ((ri === rj ? 1 : 0) - 1 / rows) - ((x[j]! - mean[c]!) * s ** 3 * (x[i]! - mean[c]!)) / rows;
        g += dy[j]! * scale[c]! * dxhat;
      }
      dx[i] = g;
    }
  }
  return { dx, dscale, dbias };
}

/** ONNX LRN on [rows, C]: the window [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to [0, C). */
export function lrnRef(x: Arr, C: number, size: number, alpha: number, beta: number, bias: number): Float64Array {
  const y = new Float64Array(x.length);
  const lo = Math.floor((size - 1) / 2),
    hi = Math.ceil((size - 1) / 2);
  for (let p = 0; p < x.length / C; p++) {
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let i = Math.max(0, c - lo); i <= Math.min(C - 1, c + hi); i++) s += x[p * C + i]! ** 2;
      y[p * C + c] = x[p * C + c]! / (bias + (alpha / size) * s) ** beta;
    }
  }
  return y;
}

/** Gradient of sum(dy * lrn(x)) by the chain rule over the window, in float64. */
export function lrnBackwardRef(dy: Arr, x: Arr, C: number, size: number, alpha: number, beta: number, bias: number): Float64Array {
  const dx = new Float64Array(x.length);
  const lo = Math.floor((size - 1) / 2),
    hi = Math.ceil((size - 1) / 2);
  for (let p = 0; p < x.length / C; p++) {
    for (let c = 0; c < C; c++) {
      let s = 0;
      const a = Math.max(0, c - lo),
        b = Math.min(C - 1, c + hi);
      for (let i = a; i <= b; i++) s += x[p * C + i]! ** 2;
      const d = bias + (alpha / size) * s;
      const xc = x[p * C + c]!,
        g = dy[p * C + c]!;
      // y_c = x_c * d^-beta; dy_c/dx_i = [i == c] d^-beta - beta x_c d^(-beta-1) (alpha/size) 2 x_i
      dx[p * C + c]! += g * d ** -beta;
      for (let i = a; i <= b; i++) dx[p * C + i]! += -g * beta * xc * d ** (-beta - 1) * (alpha / size) * 2 * x[p * C + i]!;
    }
  }
  return dx;
}

/** Concatenation of row-major arrays with the given shapes along `axis` (non-negative). */
export function concatRef(xs: Arr[], shapes: number[][], axis: number): Float64Array {
  const outer = shapes[0]!.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shapes[0]!.slice(axis + 1).reduce((a, b) => a * b, 1);
  const total = shapes.reduce((a, s) => a + s[axis]!, 0) * inner;
  const y = new Float64Array(outer * total);
  for (let o = 0; o < outer; o++) {
    let off = 0;
    xs.forEach((x, k) => {
      const cols = shapes[k]![axis]! * inner;
      for (let j = 0; j < cols; j++) y[o * total + off + j] = x[o * cols + j]!;
      off += cols;
    });
  }
  return y;
}

/** A float32 onnx.TensorProto (the ONNX conformance `.pb` files), read with src/onnx/onnx-proto.ts. */
export function decodeTensorProto(bytes: Uint8Array): { dims: number[]; data: Float32Array } {
  const t = decodeTensor(bytes);
  if (!(t.data instanceof Float32Array)) throw new Error(`TensorProto: expected float data, got data_type ${t.dataType}`);
  return { dims: t.dims, data: t.data };
}

/** NCHW (or any [N, C, ...spatial]) data to channels-last [N, ...spatial, C]. */
export function toChannelsLast(data: ArrayLike<number>, dims: number[]): { shape: number[]; data: Float32Array } {
  const [N, C] = [dims[0]!, dims[1]!];
  const S = dims.slice(2).reduce((a, b) => a * b, 1);
  const out = new Float32Array(data.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let s = 0; s < S; s++) out[(n * S + s) * C + c] = data[(n * C + c) * S + s]!;
  return { shape: [N, ...dims.slice(2), C], data: out };
}
