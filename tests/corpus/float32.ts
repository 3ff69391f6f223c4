// The float32 twin of a float16 .onnx file, as the reference for files whose float16 weights simdnet
// converts on import: onnxruntime runs a float16 graph in float16 arithmetic (IS-Net's outputs move
// by up to 1.3e-3 of their largest value against the same weights in float32), so the corpus compares
// simdnet with onnxruntime on this twin. Written against the protobuf wire format and onnx.proto's
// field numbers alone, independent of simdnet's decoder (the code under test):
//   - TensorProto (initializers, Constant / ConstantOfShape attribute tensors) of FLOAT16 -> FLOAT,
//     values widened exactly, from raw_data or int32_data;
//   - a Cast to FLOAT16 stays, followed by a Cast back to FLOAT: the value is rounded to float16
//     where the file says so, then carried in float32, as simdnet carries it (files such as
//     IS-Net's cast the input and every Resize output to float16);
//   - graph inputs, outputs and value_info of element type FLOAT16 -> FLOAT;
//   - If / Loop bodies likewise. Every other field is copied byte for byte.

const FLOAT = 1;
const FLOAT16 = 10;
/** AttributeProto.AttributeType INT. */
const ATTRIBUTE_INT = 2;

interface Field {
  no: number;
  wire: number;
  /** The whole encoded field (key and payload), for verbatim copies. */
  raw: Uint8Array;
  /** VARINT value, or the LEN payload. */
  value: number;
  payload: Uint8Array;
}

function readVarint(b: Uint8Array, pos: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= b.length) throw new Error("float32 twin: truncated varint");
    const x = b[pos++]!;
    v += (x & 0x7f) * mul;
    if (x < 0x80) return [v, pos];
    mul *= 128;
  }
  throw new Error("float32 twin: varint longer than 10 bytes");
}

function fields(b: Uint8Array): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < b.length) {
    const start = pos;
    let key: number;
    [key, pos] = readVarint(b, pos);
    const no = Math.floor(key / 8);
    const wire = key & 7;
    let value = 0;
    let payload: Uint8Array = new Uint8Array(0);
    if (wire === 0) [value, pos] = readVarint(b, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let n: number;
      [n, pos] = readVarint(b, pos);
      payload = b.subarray(pos, pos + n);
      pos += n;
    } else throw new Error(`float32 twin: wire type ${wire} (field ${no})`);
    if (pos > b.length) throw new Error(`float32 twin: field ${no} runs past its message`);
    out.push({ no, wire, raw: b.subarray(start, pos), value, payload });
  }
  return out;
}

const varint = (v: number): number[] => {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
};
const varintField = (no: number, v: number) => new Uint8Array([...varint(no * 8), ...varint(v)]);
const lenField = (no: number, payload: Uint8Array) => {
  const head = new Uint8Array([...varint(no * 8 + 2), ...varint(payload.length)]);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
};
const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Rewrites the LEN fields numbered in `children` with their transform; copies the rest. */
const rewrite = (b: Uint8Array, children: Record<number, (p: Uint8Array) => Uint8Array>) =>
  concat(fields(b).map((f) => (f.wire === 2 && children[f.no] ? lenField(f.no, children[f.no]!(f.payload)) : f.raw)));

function tensor(b: Uint8Array): Uint8Array {
  const fs = fields(b);
  if (fs.find((f) => f.no === 2)?.value !== FLOAT16) return b;
  const halves: number[] = [];
  for (const f of fs) {
    if (f.no === 9) for (let i = 0; i + 1 < f.payload.length; i += 2) halves.push(f.payload[i]! | (f.payload[i + 1]! << 8));
    if (f.no === 5 && f.wire === 2)
      for (let p = 0; p < f.payload.length; ) {
        let v: number;
        [v, p] = readVarint(f.payload, p);
        halves.push(v & 0xffff);
      }
    if (f.no === 5 && f.wire === 0) halves.push(f.value & 0xffff);
    if (f.no === 13 || (f.no === 14 && f.value === 1)) throw new Error("float32 twin: external tensor data");
  }
  const data = new Float32Array(halves.map(halfToFloat));
  const kept = fs.filter((f) => f.no !== 2 && f.no !== 5 && f.no !== 9).map((f) => f.raw);
  return concat([...kept, varintField(2, FLOAT), lenField(9, new Uint8Array(data.buffer))]);
}

const tensorType = (b: Uint8Array) => concat(fields(b).map((f) => (f.no === 1 && f.wire === 0 && f.value === FLOAT16 ? varintField(1, FLOAT) : f.raw)));
const typeProto = (b: Uint8Array): Uint8Array => rewrite(b, { 1: tensorType });
const valueInfo = (b: Uint8Array) => rewrite(b, { 2: typeProto });

function attribute(b: Uint8Array): Uint8Array {
  return concat(
    fields(b).map((f) => {
      if (f.wire !== 2) return f.raw;
      if (f.no === 5 || f.no === 10) return lenField(f.no, tensor(f.payload));
      if (f.no === 6 || f.no === 11) return lenField(f.no, graph(f.payload));
      return f.raw;
    }),
  );
}

const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b ?? new Uint8Array());
const bytesOf = (s: string) => new TextEncoder().encode(s);

/**
 * A node's twin: its attribute tensors and subgraphs in float32. A Cast to FLOAT16 (output x) keeps
 * its rounding: it writes x + "__float16", and a new Cast to FLOAT turns that back into x.
 */
function nodes(b: Uint8Array): Uint8Array[] {
  const fs = fields(b);
  const op = text(fs.find((f) => f.no === 4)?.payload);
  const toHalf =
    op === "Cast" &&
    fs.some((f) => {
      if (f.no !== 5 || f.wire !== 2) return false;
      const a = fields(f.payload);
      return text(a.find((x) => x.no === 1)?.payload) === "to" && a.find((x) => x.no === 3 && x.wire === 0)?.value === FLOAT16;
    });
  const attrs = (f: Field) => (f.no === 5 && f.wire === 2 ? lenField(5, attribute(f.payload)) : f.raw);
  if (!toHalf) return [concat(fs.map(attrs))];
  const out = text(fs.find((f) => f.no === 2)?.payload);
  const half = `${out}__float16`;
  const cast = concat(fs.map((f) => (f.no === 2 ? lenField(2, bytesOf(half)) : attrs(f))));
  const back = concat([
    lenField(1, bytesOf(half)),
    lenField(2, bytesOf(out)),
    lenField(3, bytesOf(`${text(fs.find((f) => f.no === 3)?.payload)}__float32`)),
    lenField(4, bytesOf("Cast")),
    lenField(5, concat([lenField(1, bytesOf("to")), varintField(3, FLOAT), varintField(20, ATTRIBUTE_INT)])),
  ]);
  return [cast, back];
}

function graph(b: Uint8Array): Uint8Array {
  const children: Record<number, (p: Uint8Array) => Uint8Array> = { 5: tensor, 11: valueInfo, 12: valueInfo, 13: valueInfo };
  return concat(
    fields(b).flatMap((f) => {
      if (f.wire !== 2) return [f.raw];
      if (f.no === 1) return nodes(f.payload).map((n) => lenField(1, n));
      return [children[f.no] ? lenField(f.no, children[f.no]!(f.payload)) : f.raw];
    }),
  );
}

/** The float32 twin of a model's bytes (see the file header); a model without float16 comes back equal. */
export function float32Twin(model: Uint8Array): Uint8Array {
  return rewrite(model, { 7: graph });
}
