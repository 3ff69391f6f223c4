// Pooling over NHWC tensors: max (with arg-max), average and global, forward and backward,
// following ONNX MaxPool / AveragePool / GlobalMaxPool / GlobalAveragePool. Kernels: assembly/pool.ts.
import { checkInt, fail, fmtShape, fmtValue } from "../errors.js";
import type { Shape, Tensor } from "../tensor.js";
import { checkShape, checkShapeArg, checkTensor, engineOf, gradTensor, outputTensor } from "./common.js";
import type { Engine } from "../engine.js";
import { partsFor, threadsFor } from "../threads/parallel.js";
import { splitRange } from "../threads/partition.js";
import type { ThreadedKernel } from "../threads/protocol.js";
import { writePoolParams } from "../kernels/params.generated.js";

/** The forward kernels, which read an output row range from their parameter block (assembly/pool.ts). */
type PoolForwardKernel = ThreadedKernel & ("maxpool2d_f32_forward" | "maxpool2x2_f32_forward" | "maxpool2x2_f32_inference" | "avgpool2d_f32_forward");

/** ONNX auto_pad. SAME_* pad so that out = ceil(in / stride), the odd cell going to the end
 *  (UPPER) or the start (LOWER); VALID means no padding. */
import type { AutoPad } from "./conv2d.js";

/** Options of the 2-D pooling ops (ONNX MaxPool / AveragePool attributes). */
export interface Pool2dOptions {
  /** Window size [kh, kw] (a number means square). */
  kernel: number | readonly [number, number];
  /** Window step [sh, sw]; default 1. */
  strides?: number | readonly [number, number];
  /** Explicit padding [top, left, bottom, right] (a number pads every side); default 0.
   *  Padded cells never win a max and never receive a gradient. Not allowed with SAME_* / VALID. */
  pads?: number | readonly [number, number, number, number];
  /** Default "NOTSET" (use `pads`). */
  autoPad?: AutoPad;
  /** Tap spacing [dh, dw]; default 1. */
  dilations?: number | readonly [number, number];
  /** Round the output size up (ONNX ceil_mode), keeping only windows that start inside the input
   *  or its top/left padding. Only with explicit pads: with SAME_* / VALID the output size is
   *  fixed by autoPad, as in ONNX. Default false. */
  ceilMode?: boolean;
  /** Average pooling only: divide by the number of window cells inside the padded input
   *  (1) rather than inside the input (0, default). Cells ceil mode adds are never counted. */
  countIncludePad?: boolean;
}

/** Resolved window geometry (the kernels read it as the "pool" parameter block, src/kernels/params.ts). */
interface PoolGeometry {
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
  padTop: number;
  padLeft: number;
  padBottom: number;
  padRight: number;
}

/**
 * Writes g (average pooling's countIncludePad, a forward call's output rows [rowBegin, rowEnd)) into
 * the engine's parameter block of part t and returns its address.
 */
function poolParams(e: Engine, g: PoolGeometry, countIncludePad: boolean, t = 0, rowBegin = 0, rowEnd = g.n * g.oh): number {
  const at = e.paramBlockFor(t);
  writePoolParams(e.heap.i32, at, {
    n: g.n,
    h: g.h,
    w: g.w,
    c: g.c,
    oh: g.oh,
    ow: g.ow,
    kh: g.kh,
    kw: g.kw,
    sh: g.sh,
    sw: g.sw,
    dh: g.dh,
    dw: g.dw,
    padTop: g.padTop,
    padLeft: g.padLeft,
    padBottom: g.padBottom,
    padRight: g.padRight,
    countIncludePad: countIncludePad ? 1 : 0,
    rowBegin,
    rowEnd,
  });
  return at;
}

const OPTION_KEYS = new Set(["kernel", "strides", "pads", "autoPad", "dilations", "ceilMode", "countIncludePad"]);
const AUTO_PADS: readonly AutoPad[] = ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"];
/** Largest element count the kernels index with i32. */
const MAX_ELEMENTS = 2 ** 31 - 1;

/** A number or a tuple of `len` numbers, each an integer from min to 2^31 - 1 (the kernels' i32). */
function intTuple(op: string, name: string, v: unknown, len: number, min: number, fallback: number): number[] {
  if (v === undefined) return new Array<number>(len).fill(fallback);
  const values = typeof v === "number" ? new Array<number>(len).fill(v) : v;
  if (!Array.isArray(values) || values.length !== len) {
    fail(op, `${name} must be a number or an array of ${len} numbers, got ${fmtValue(v)}`);
  }
  for (const x of values) {
    checkInt(op, name, x as number, min);
    if ((x as number) > MAX_ELEMENTS) fail(op, `${name} must be at most ${MAX_ELEMENTS} (32-bit), got ${fmtValue(v)}`);
  }
  return [...(values as number[])];
}

/** An NHWC shape: 4 integers >= 1 (see checkShapeArg), at most 2^31-1 elements. */
function checkXShape(op: string, arg: string, shape: Shape): void {
  checkShapeArg(op, arg, shape, { rank: 4 });
  if (shape.reduce((a, b) => a * b, 1) > MAX_ELEMENTS) fail(op, `${arg} ${fmtShape(shape)} has more than 2^31-1 elements`);
}

/** Output size along one axis, and the padding actually used [begin, end]. */
function axis(
  op: string,
  name: string,
  xShape: Shape,
  size: number,
  k: number,
  s: number,
  d: number,
  padBegin: number,
  padEnd: number,
  autoPad: AutoPad,
  ceilMode: boolean,
): { out: number; begin: number; end: number } {
  const extent = (k - 1) * d + 1;
  // every index the kernels form (a tap's row, a window's end, its cell count) must fit in i32
  const tooBig = (padded: number) => {
    if (padded + extent > MAX_ELEMENTS) {
      fail(
        op,
        `the ${name} window (kernel ${k}, dilation ${d}: extent ${extent}) over the padded input (${padded}) for x ${fmtShape(xShape)} exceeds the 32-bit range`,
      );
    }
  };
  if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
    const out = Math.ceil(size / s);
    const total = Math.max(0, (out - 1) * s + extent - size);
    tooBig(size + total);
    const small = Math.floor(total / 2);
    const begin = autoPad === "SAME_UPPER" ? small : total - small;
    return { out, begin, end: total - begin };
  }
  if (autoPad === "VALID") padBegin = padEnd = 0;
  const padded = size + padBegin + padEnd;
  if (extent > padded) {
    fail(
      op,
      `the ${name} window (kernel ${k}, dilation ${d}: extent ${extent}) is larger than the padded input ` +
        `(${size} + pads ${padBegin}+${padEnd} = ${padded}) for x ${fmtShape(xShape)}`,
    );
  }
  tooBig(padded);
  let out = (ceilMode ? Math.ceil((padded - extent) / s) : Math.floor((padded - extent) / s)) + 1;
  // ONNX / PyTorch: with ceil mode the last window must start inside the input or the begin padding.
  if (ceilMode && (out - 1) * s >= size + padBegin) out--;
  return { out, begin: padBegin, end: padEnd };
}

/** Checks options and x's shape; returns the window geometry. */
function poolGeometry(op: string, xShape: Shape, options: Pool2dOptions, xArg = "x shape"): PoolGeometry {
  checkXShape(op, xArg, xShape);
  if (!options || typeof options !== "object") fail(op, `options must be an object, got ${fmtValue(options)}`);
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) fail(op, `unknown option '${key}' (expected one of ${[...OPTION_KEYS].join(", ")})`);
  }
  if (options.kernel === undefined) fail(op, "options.kernel is required");
  const [kh, kw] = intTuple(op, "kernel", options.kernel, 2, 1, 1) as [number, number];
  const [sh, sw] = intTuple(op, "strides", options.strides, 2, 1, 1) as [number, number];
  const [dh, dw] = intTuple(op, "dilations", options.dilations, 2, 1, 1) as [number, number];
  const pads = intTuple(op, "pads", options.pads, 4, 0, 0) as [number, number, number, number];
  const autoPad = options.autoPad ?? "NOTSET";
  if (!AUTO_PADS.includes(autoPad)) fail(op, `autoPad must be one of ${AUTO_PADS.join(", ")}, got ${String(autoPad)}`);
  if (autoPad !== "NOTSET" && options.pads !== undefined && pads.some((p) => p !== 0)) {
    fail(op, `pads [${pads.join(",")}] cannot be combined with autoPad ${autoPad}`);
  }
  for (const flag of ["ceilMode", "countIncludePad"] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== "boolean") {
      fail(op, `${flag} must be a boolean, got ${String(options[flag])}`);
    }
  }
  const ceilMode = options.ceilMode === true && autoPad === "NOTSET";
  const [n, h, w, c] = xShape as [number, number, number, number];
  const rows = axis(op, "height", xShape, h, kh, sh, dh, pads[0], pads[2], autoPad, ceilMode);
  const cols = axis(op, "width", xShape, w, kw, sw, dw, pads[1], pads[3], autoPad, ceilMode);
  if (n * rows.out * cols.out * c > MAX_ELEMENTS) fail(op, `the output [${n},${rows.out},${cols.out},${c}] would have more than 2^31-1 elements`);
  // a window's cell count (average pooling) is at most its taps inside the padded input
  const cells = Math.min(kh, h + rows.begin + rows.end) * Math.min(kw, w + cols.begin + cols.end);
  if (cells > MAX_ELEMENTS) fail(op, `kernel [${kh},${kw}] windows would hold more than 2^31-1 cells of x ${fmtShape(xShape)}`);
  return {
    n,
    h,
    w,
    c,
    oh: rows.out,
    ow: cols.out,
    kh,
    kw,
    sh,
    sw,
    dh,
    dw,
    padTop: rows.begin,
    padLeft: cols.begin,
    padBottom: rows.end,
    padRight: cols.end,
  };
}

/** Fails if some window has no tap inside the input (only possible with pads / dilations that
 *  are large against the kernel): such a window has no maximum and no non-pad average. Its time
 *  grows with the output size only, never with the kernel. */
function checkNoEmptyWindow(op: string, g: PoolGeometry, xShape: Shape): void {
  const emptyAt = (out: number, s: number, pad: number, k: number, d: number, size: number): number => {
    for (let o = 0; o < out; o++) {
      const i0 = o * s - pad;
      const first = i0 >= 0 ? 0 : Math.ceil(-i0 / d); // the first tap at or after row 0
      if (!(first < k && i0 + first * d < size)) return o;
    }
    return -1;
  };
  const r = emptyAt(g.oh, g.sh, g.padTop, g.kh, g.dh, g.h);
  const q = emptyAt(g.ow, g.sw, g.padLeft, g.kw, g.dw, g.w);
  if (r >= 0 || q >= 0) {
    fail(
      op,
      `the window at output ${r >= 0 ? `row ${r}` : `column ${q}`} lies entirely in padding ` +
        `(x ${fmtShape(xShape)}, kernel [${g.kh},${g.kw}], dilations [${g.dh},${g.dw}], ` +
        `pads [${g.padTop},${g.padLeft},${g.padBottom},${g.padRight}])`,
    );
  }
}

/** Output shape [N, OH, OW, C] of 2-D pooling of an NHWC input of shape `xShape`. */
export function pool2dOutputShape(xShape: Shape, options: Pool2dOptions): number[] {
  const g = poolGeometry("pool2dOutputShape", xShape, options, "xShape");
  return [g.n, g.oh, g.ow, g.c];
}

/**
 * Max pooling, x [N,H,W,C] -> y [N,OH,OW,C] f32 and argmax [N,OH,OW,C] i32 (ONNX MaxPool).
 * argmax holds the FLAT index into the whole x tensor (NHWC, batch included) of each maximum:
 * ((n*H + h)*W + w)*C + c; ties keep the first maximum in row-major window order.
 */
export function maxPool2d(x: Tensor, options: Pool2dOptions, out: { y?: Tensor; argmax?: Tensor } = {}): { y: Tensor; argmax: Tensor } {
  const op = "maxPool2d";
  engineOf(op, x, out.y, out.argmax);
  checkTensor(op, "x", x, { rank: 4 });
  const g = poolGeometry(op, x.shape, options);
  checkNoEmptyWindow(op, g, x.shape);
  return maxPoolRun(op, x, g, out);
}

function maxPoolRun(op: string, x: Tensor, g: PoolGeometry, out: { y?: Tensor; argmax?: Tensor }): { y: Tensor; argmax: Tensor } {
  const e = x.engine;
  const shape = [g.n, g.oh, g.ow, g.c];
  if (out.y && out.y === out.argmax) fail(op, "out.y and out.argmax must be different tensors");
  if (out.y === x) fail(op, "out.y cannot be x (pooling does not run in place)");
  const y = outputTensor(op, e, shape, out.y);
  const argmax = outputTensor(op, e, shape, out.argmax, "i32");
  forwardRows(e, isPlain2x2(g) ? "maxpool2x2_f32_forward" : "maxpool2d_f32_forward", [y.ptr, argmax.ptr, x.ptr], g);
  return { y, argmax };
}

/**
 * Calls a forward pooling kernel (its pointer arguments, then its parameter block) on the output
 * rows b*oh + oy, split by rows over the engine's threads when the call is big enough (each part
 * its own block). Rows are independent, so every output has the same bits however they are split.
 */
function forwardRows(e: Engine, kernel: PoolForwardKernel, pointers: number[], g: PoolGeometry, countIncludePad = false): void {
  const rows = g.n * g.oh;
  const threads = threadsFor(e, rows * g.ow * g.c * g.kh * g.kw); // one part (one call) when 1
  e.parallel(
    kernel,
    splitRange(rows, partsFor(threads)).map(([rowBegin, rowEnd], t) => [...pointers, poolParams(e, g, countIncludePad, t, rowBegin, rowEnd)]),
  );
}

/** Kernel 2x2, stride 2, no padding or dilation, every window inside x: the specialised kernels. */
function isPlain2x2(g: PoolGeometry): boolean {
  return (
    g.kh === 2 &&
    g.kw === 2 &&
    g.sh === 2 &&
    g.sw === 2 &&
    g.dh === 1 &&
    g.dw === 1 &&
    g.padTop === 0 &&
    g.padLeft === 0 &&
    g.padBottom === 0 &&
    g.padRight === 0 &&
    2 * g.oh <= g.h &&
    2 * g.ow <= g.w
  );
}

/**
 * Max pooling for inference: y [N,OH,OW,C] as maxPool2d's y, x [N,H,W,C], without the arg-max
 * (so nothing for a backward pass). Writes into `out` when given.
 */
export function maxPool2dInference(x: Tensor, options: Pool2dOptions, out?: Tensor): Tensor {
  return maxPool2dInferenceOn(x, options, out);
}

/**
 * Bytes of scratch maxPool2dInference needs for x [N,H,W,C] (xShape) and these options: an arg-max
 * the kernel writes and nobody reads, or 0 for 2x2 stride-2 windows (a kernel without one).
 */
export function maxPool2dInferenceScratchBytes(xShape: Shape, options: Pool2dOptions): number {
  const g = poolGeometry("maxPool2dInferenceScratchBytes", xShape, options);
  return isPlain2x2(g) ? 0 : 16 * Math.ceil((g.n * g.oh * g.ow * g.c) / 4);
}

/**
 * maxPool2dInference on `scratch` (a byte address of maxPool2dInferenceScratchBytes bytes, for
 * planned callers: the graph runtime), else on an arg-max allocated for the call.
 */
export function maxPool2dInferenceOn(x: Tensor, options: Pool2dOptions, out?: Tensor, scratch?: number): Tensor {
  const op = "maxPool2dInference";
  const e = engineOf(op, x, out);
  checkTensor(op, "x", x, { rank: 4 });
  const g = poolGeometry(op, x.shape, options);
  checkNoEmptyWindow(op, g, x.shape);
  if (out === x) fail(op, "out cannot be x (pooling does not run in place)");
  const y = outputTensor(op, e, [g.n, g.oh, g.ow, g.c], out);
  if (isPlain2x2(g)) {
    forwardRows(e, "maxpool2x2_f32_inference", [y.ptr, x.ptr], g);
    return y;
  }
  if (scratch !== undefined) {
    forwardRows(e, "maxpool2d_f32_forward", [y.ptr, scratch, x.ptr], g);
    return y;
  }
  const argmax = e.empty(y.shape, "i32", `${op} arg-max scratch`);
  try {
    forwardRows(e, "maxpool2d_f32_forward", [y.ptr, argmax.ptr, x.ptr], g);
  } finally {
    argmax.dispose();
  }
  return y;
}

/**
 * Max pooling backward: dx[argmax[i]] += dy[i]. dy f32 and argmax i32 are [N,OH,OW,C] (argmax as
 * written by maxPool2d / globalMaxPool: flat indices into x); dx is [N,H,W,C] = xShape.
 * Returns dx (new and zeroed unless given; a given dx is accumulated into).
 */
export function maxPool2dBackward(dy: Tensor, argmax: Tensor, xShape: Shape, dx?: Tensor): Tensor {
  return maxPoolBackwardRun("maxPool2dBackward", dy, argmax, xShape, dx);
}

function maxPoolBackwardRun(op: string, dy: Tensor, argmax: Tensor, xShape: Shape, dx?: Tensor): Tensor {
  const e = engineOf(op, dy, argmax, dx);
  checkTensor(op, "dy", dy, { rank: 4 });
  checkTensor(op, "argmax", argmax, { rank: 4, dtype: "i32" });
  checkShape(op, "argmax", argmax, dy.shape);
  checkXShape(op, "xShape", xShape);
  if (dy.shape[0] !== xShape[0] || dy.shape[3] !== xShape[3]) {
    fail(op, `dy ${fmtShape(dy.shape)} and xShape ${fmtShape(xShape)} must agree on batch and channels`);
  }
  if (dx === dy) fail(op, "dx cannot be dy");
  const g = gradTensor(op, "dx", e, xShape, dx);
  const xSize = xShape.reduce((a, b) => a * b, 1);
  const bad = e.kernels.maxpool2d_f32_backward(g.ptr, dy.ptr, argmax.ptr, dy.size, xSize);
  if (bad >= 0) {
    fail(op, `argmax[${bad}] = ${argmax.ints[bad]} is not an index into x ${fmtShape(xShape)} (size ${xSize}); dx is unchanged`);
  }
  return g;
}

/**
 * Average pooling, x [N,H,W,C] -> y [N,OH,OW,C] (ONNX AveragePool): each output is the sum of its
 * window's cells inside the input divided by their count, or with countIncludePad by the count of
 * window cells inside the padded input (never those added by ceil mode).
 */
export function avgPool2d(x: Tensor, options: Pool2dOptions, out?: Tensor): Tensor {
  const op = "avgPool2d";
  const e = engineOf(op, x, out);
  checkTensor(op, "x", x, { rank: 4 });
  const g = poolGeometry(op, x.shape, options);
  if (!options.countIncludePad) checkNoEmptyWindow(op, g, x.shape);
  if (out === x) fail(op, "out cannot be x (pooling does not run in place)");
  const y = outputTensor(op, e, [g.n, g.oh, g.ow, g.c], out);
  forwardRows(e, "avgpool2d_f32_forward", [y.ptr, x.ptr], g, options.countIncludePad === true);
  return y;
}

/**
 * Average pooling backward: dx += dy spread evenly (dy / count) over each window's input cells.
 * dy is [N,OH,OW,C], dx is xShape = [N,H,W,C]; `options` must be those of the forward call.
 * Returns dx (new and zeroed unless given; a given dx is accumulated into).
 */
export function avgPool2dBackward(dy: Tensor, xShape: Shape, options: Pool2dOptions, dx?: Tensor): Tensor {
  const op = "avgPool2dBackward";
  const e = engineOf(op, dy, dx);
  checkTensor(op, "dy", dy, { rank: 4 });
  const g = poolGeometry(op, xShape, options, "xShape");
  if (!options.countIncludePad) checkNoEmptyWindow(op, g, xShape);
  checkShape(op, "dy", dy, [g.n, g.oh, g.ow, g.c]);
  if (dx === dy) fail(op, "dx cannot be dy");
  const grad = gradTensor(op, "dx", e, xShape, dx);
  e.kernels.avgpool2d_f32_backward(grad.ptr, dy.ptr, poolParams(e, g, options.countIncludePad === true));
  return grad;
}

/** One window covering the whole image: global pooling as a special case of the 2-D kernels. */
function globalGeometry(op: string, xShape: Shape, arg: string): PoolGeometry {
  checkXShape(op, arg, xShape);
  const [n, h, w, c] = xShape as [number, number, number, number];
  return { n, h, w, c, oh: 1, ow: 1, kh: h, kw: w, sh: 1, sw: 1, dh: 1, dw: 1, padTop: 0, padLeft: 0, padBottom: 0, padRight: 0 };
}

/**
 * Global average pooling (ONNX GlobalAveragePool): x [N,H,W,C] -> y [N,1,1,C], the mean over H*W,
 * summed in float64 (one rounding per output: a 224x224 mean keeps float32 precision).
 */
export function globalAvgPool(x: Tensor, out?: Tensor): Tensor {
  const op = "globalAvgPool";
  const e = engineOf(op, x, out);
  checkTensor(op, "x", x, { rank: 4 });
  const g = globalGeometry(op, x.shape, "x");
  if (out === x) fail(op, "out cannot be x (pooling does not run in place)");
  const y = outputTensor(op, e, [g.n, 1, 1, g.c], out);
  // float64 column sums per image (assembly/sums.ts: a 224x224 mean keeps float32 precision),
  // split by images over threads (the same bits however split)
  const hw = g.h * g.w;
  const threads = threadsFor(e, g.n * hw * g.c);
  e.parallel(
    "globalavgpool_f32_forward",
    splitRange(g.n, partsFor(threads)).map(([b0, b1]) => [y.ptr + 4 * b0 * g.c, x.ptr + 4 * b0 * hw * g.c, b1 - b0, hw, g.c]),
  );
  return y;
}

/** Global average pooling backward: dx[n,h,w,c] += dy[n,0,0,c] / (H*W). dy [N,1,1,C], dx xShape. */
export function globalAvgPoolBackward(dy: Tensor, xShape: Shape, dx?: Tensor): Tensor {
  const op = "globalAvgPoolBackward";
  const e = engineOf(op, dy, dx);
  checkTensor(op, "dy", dy, { rank: 4 });
  const g = globalGeometry(op, xShape, "xShape");
  checkShape(op, "dy", dy, [g.n, 1, 1, g.c]);
  const grad = gradTensor(op, "dx", e, xShape, dx);
  e.kernels.avgpool2d_f32_backward(grad.ptr, dy.ptr, poolParams(e, g, false));
  return grad;
}

/**
 * Global max pooling (ONNX GlobalMaxPool): x [N,H,W,C] -> y [N,1,1,C] f32 and argmax [N,1,1,C] i32,
 * flat indices into x as in maxPool2d.
 */
export function globalMaxPool(x: Tensor, out: { y?: Tensor; argmax?: Tensor } = {}): { y: Tensor; argmax: Tensor } {
  const op = "globalMaxPool";
  engineOf(op, x, out.y, out.argmax);
  checkTensor(op, "x", x, { rank: 4 });
  return maxPoolRun(op, x, globalGeometry(op, x.shape, "x"), out);
}

/** Global max pooling backward: dx[argmax[i]] += dy[i]; dy, argmax [N,1,1,C], dx xShape [N,H,W,C]. */
export function globalMaxPoolBackward(dy: Tensor, argmax: Tensor, xShape: Shape, dx?: Tensor): Tensor {
  const op = "globalMaxPoolBackward";
  checkTensor(op, "dy", dy, { rank: 4 });
  if (dy.shape[1] !== 1 || dy.shape[2] !== 1) fail(op, `dy must have shape [N,1,1,C], got ${fmtShape(dy.shape)}`);
  return maxPoolBackwardRun(op, dy, argmax, xShape, dx);
}
