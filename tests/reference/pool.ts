// Plain float64 references for pooling over NHWC tensors, written from the ONNX operator
// definitions (MaxPool, AveragePool, GlobalMaxPool, GlobalAveragePool), one tap at a time.

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
  n: number; h: number; w: number; c: number; oh: number; ow: number;
  kh: number; kw: number; sh: number; sw: number; dh: number; dw: number;
  top: number; left: number; bottom: number; right: number;
}

/** Output length and pads along one axis, from the ONNX MaxPool/AveragePool shape formulas. */
function refAxis(
  size: number, k: number, s: number, d: number, begin: number, end: number,
  autoPad: string, ceilMode: boolean,
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

// ---- ONNX conformance data: a minimal protobuf reader (only the fields pooling cases use) ----
// Field numbers from onnx.proto: ModelProto.graph = 7; GraphProto.node = 1; NodeProto.op_type = 4,
// .attribute = 5; AttributeProto.name = 1, .f = 2, .i = 3, .s = 4, .ints = 8; TensorProto.dims = 1,
// .data_type = 2, .float_data = 4, .raw_data = 9.

type Field = { field: number; wire: number; int: number; bytes: Uint8Array };

function readFields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let scale = 1;
    for (;;) {
      const b = buf[pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8), wire = key & 7;
    let int = 0;
    let bytes: Uint8Array = new Uint8Array(0);
    if (wire === 0) int = varint();
    else if (wire === 1) { bytes = buf.subarray(pos, pos + 8); pos += 8; }
    else if (wire === 5) { bytes = buf.subarray(pos, pos + 4); pos += 4; }
    else if (wire === 2) { const len = varint(); bytes = buf.subarray(pos, pos + len); pos += len; }
    else throw new Error(`unsupported protobuf wire type ${wire}`);
    out.push({ field, wire, int, bytes });
  }
  return out;
}

/** Repeated int64 field values, packed or not. */
function ints(fields: Field[], field: number): number[] {
  const values: number[] = [];
  for (const f of fields.filter((f) => f.field === field)) {
    if (f.wire === 0) values.push(f.int);
    else for (const p of readFields(concatPacked(f.bytes))) values.push(p.int);
  }
  return values;
}

/** Packed varints have no keys: give each a synthetic key (field 1, wire 0) to reuse readFields. */
function concatPacked(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  let start = true;
  for (const b of bytes) {
    if (start) out.push(0x08);
    out.push(b);
    start = b < 0x80;
  }
  return Uint8Array.from(out);
}

export interface OnnxTensor { dims: number[]; data: Float32Array }

/** A float TensorProto (data_type 1) from its serialized bytes. */
export function readOnnxTensor(buf: Uint8Array): OnnxTensor {
  const fields = readFields(buf);
  const dims = ints(fields, 1);
  const type = fields.find((f) => f.field === 2)?.int;
  if (type !== 1) throw new Error(`expected a float tensor, got data_type ${type}`);
  const raw = fields.find((f) => f.field === 9);
  const bytes = raw ? raw.bytes : Uint8Array.from(fields.filter((f) => f.field === 4).flatMap((f) => [...f.bytes]));
  const data = new Float32Array(new Uint8Array(bytes).buffer); // copy: the bytes may be an unaligned view
  return { dims, data };
}

export interface OnnxNode { opType: string; attributes: Record<string, number | number[] | string> }

/** The single node of a one-operator ModelProto, with its int / ints / string / float attributes. */
export function readOnnxNode(buf: Uint8Array): OnnxNode {
  const graph = readFields(readFields(buf).find((f) => f.field === 7)!.bytes);
  const node = readFields(graph.find((f) => f.field === 1)!.bytes);
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  const attributes: OnnxNode["attributes"] = {};
  for (const a of node.filter((f) => f.field === 5)) {
    const af = readFields(a.bytes);
    const name = text(af.find((f) => f.field === 1)!.bytes);
    const i = af.find((f) => f.field === 3), s = af.find((f) => f.field === 4), fl = af.find((f) => f.field === 2);
    if (af.some((f) => f.field === 8)) attributes[name] = ints(af, 8);
    else if (i) attributes[name] = i.int;
    else if (s) attributes[name] = text(s.bytes);
    else if (fl) attributes[name] = new DataView(new Uint8Array(fl.bytes).buffer).getFloat32(0, true);
  }
  return { opType: text(node.find((f) => f.field === 4)!.bytes), attributes };
}

/** NCHW data -> NHWC data (dims [n, c, h, w]). */
export function nchwToNhwc(data: ArrayLike<number>, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n!; b++)
    for (let ch = 0; ch < c!; ch++)
      for (let p = 0; p < h! * w!; p++) out[(b * h! * w! + p) * c! + ch] = data[(b * c! + ch) * h! * w! + p]!;
  return out;
}
