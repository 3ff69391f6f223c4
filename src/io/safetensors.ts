// The safetensors format (https://github.com/huggingface/safetensors):
//   [8 bytes: N, unsigned little-endian u64] [N bytes: UTF-8 JSON header] [data bytes]
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end)}, offsets
// relative to the start of the data bytes; the optional "__metadata__" entry maps strings to strings.
// Tensors must tile the data bytes exactly: no gaps, no overlap, nothing after the last one.
// Data is little-endian, row-major. We write F32 only; we read F32, F64, F16 and BF16 into float32.
// Every malformed input is rejected with a SimdnetError that says what is wrong and where.
import { fail, fmtShape } from "../errors.js";
import type { Tensor } from "../tensor.js";

/** What encodeSafetensors takes: any {shape, data} (a Tensor qualifies: its .data is float32). */
export interface TensorData {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** One tensor of a safetensors file, converted to float32. */
export interface DecodedTensor {
  shape: number[];
  /** The values converted to float32. */
  data: Float32Array;
  /** The dtype stored in the file: "F32", "F64", "F16" or "BF16". */
  dtype: string;
}

/** A decoded safetensors file: its tensors by name and its metadata strings. */
export interface DecodedSafetensors {
  tensors: Record<string, DecodedTensor>;
  metadata: Record<string, string>;
}

const OP_ENC = "encodeSafetensors";
const OP_DEC = "decodeSafetensors";
/** The reference implementation refuses headers above 100 MB; so do we. */
export const MAX_HEADER_BYTES = 100_000_000;
const ITEM_BYTES: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2 };
/** dtypes the format defines that we do not convert (named in the error). */
const KNOWN_DTYPES = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "I32", "U32", "I64", "U64"];
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function checkShapeList(op: string, what: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.some((d) => typeof d !== "number" || !Number.isSafeInteger(d) || d < 0)) {
    fail(op, `${what}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  return shape as number[];
}

/**
 * Serialises float32 tensors (and optional string metadata) to safetensors bytes. Names are
 * written in sorted order, each tensor's bytes contiguous after the previous; the header is
 * space-padded to a multiple of 8 bytes so the data starts 8-byte aligned.
 */
export function encodeSafetensors(tensors: Record<string, TensorData>, metadata?: Record<string, string>): Uint8Array {
  if (!tensors || typeof tensors !== "object") fail(OP_ENC, `tensors must be an object of name -> {shape, data}, got ${tensors}`);
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    if (!metadata || typeof metadata !== "object" || Array.isArray(metadata)) fail(OP_ENC, "metadata must be an object of string values");
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") fail(OP_ENC, `metadata["${k}"] must be a string, got ${typeof v}`);
    }
    header.__metadata__ = { ...metadata };
  }
  const parts: Float32Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === "" || name === "__metadata__") fail(OP_ENC, `invalid tensor name "${name}"`);
    const t = tensors[name]!;
    const shape = checkShapeList(OP_ENC, `tensor "${name}"`, Array.isArray(t?.shape) ? [...t.shape] : t?.shape);
    const data = t.data;
    if (!(data instanceof Float32Array)) fail(OP_ENC, `tensor "${name}": data must be a Float32Array`);
    if (data.length !== product(shape)) {
      fail(OP_ENC, `tensor "${name}": shape ${fmtShape(shape)} holds ${product(shape)} values but data has ${data.length}`);
    }
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + data.length * 4] };
    offset += data.length * 4;
    parts.push(data);
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true); // high 32 bits stay 0
  out.set(json, 8);
  let at = 8 + json.length;
  for (const data of parts) {
    if (LITTLE_ENDIAN) out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    else for (let i = 0; i < data.length; i++) view.setFloat32(at + 4 * i, data[i]!, true);
    at += data.byteLength;
  }
  return out;
}

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses safetensors bytes into float32 tensors and the string metadata. Checks the length
 * prefix, the header (UTF-8 JSON object, entry types, dtypes, shapes), that every tensor's byte
 * range matches its shape and that the ranges tile the data exactly.
 */
export function decodeSafetensors(input: Uint8Array | ArrayBuffer): DecodedSafetensors {
  const bytes = input instanceof ArrayBuffer ? new Uint8Array(input) : input;
  if (!(bytes instanceof Uint8Array)) fail(OP_DEC, `expected a Uint8Array or ArrayBuffer, got ${typeof input}`);
  if (bytes.length < 8) fail(OP_DEC, `truncated file: ${bytes.length} bytes, need at least 8 for the header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = view.getUint32(0, true),
    hi = view.getUint32(4, true);
  const headerLength = hi * 2 ** 32 + lo;
  if (headerLength > bytes.length - 8) {
    fail(OP_DEC, `header length ${headerLength} exceeds the file: only ${bytes.length - 8} bytes follow the length prefix (truncated or not safetensors)`);
  }
  if (headerLength > MAX_HEADER_BYTES) fail(OP_DEC, `header length ${headerLength} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  if (headerLength < 2) fail(OP_DEC, `header length ${headerLength} is too small for a JSON object`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    fail(OP_DEC, "header is not valid UTF-8");
  }
  if (text[0] !== "{") fail(OP_DEC, `header must be a JSON object starting with "{", got ${JSON.stringify(text.slice(0, 16))}`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    fail(OP_DEC, `header is not valid JSON: ${(err as Error).message}`);
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) fail(OP_DEC, "header must be a JSON object");

  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (!raw || typeof raw !== "object" || Array.isArray(raw)) fail(OP_DEC, "__metadata__ must be an object of string values");
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string") fail(OP_DEC, `__metadata__["${k}"] must be a string, got ${JSON.stringify(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    const what = `tensor "${name}"`;
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) fail(OP_DEC, `${what}: entry must be an object with dtype, shape and data_offsets`);
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== "string") fail(OP_DEC, `${what}: dtype must be a string, got ${JSON.stringify(dtype)}`);
    const item = ITEM_BYTES[dtype];
    if (item === undefined) {
      const known = KNOWN_DTYPES.includes(dtype) ? "" : " (not a safetensors dtype)";
      fail(OP_DEC, `${what}: unsupported dtype "${dtype}"${known}; supported: ${Object.keys(ITEM_BYTES).join(", ")}`);
    }
    const dims = checkShapeList(OP_DEC, what, shape);
    if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => typeof o !== "number" || !Number.isSafeInteger(o) || o < 0)) {
      fail(OP_DEC, `${what}: data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) fail(OP_DEC, `${what}: data_offsets [${begin}, ${end}] end before they begin`);
    const expected = product(dims) * item;
    if (end - begin !== expected) {
      fail(OP_DEC, `${what}: shape ${fmtShape(dims)} of ${dtype} needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
    }
    entries.push({ name, dtype, shape: dims, begin, end });
  }

  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const ordered = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of ordered) {
    if (e.end > dataLength) {
      fail(OP_DEC, `tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] are out of range: the data is ${dataLength} bytes (truncated file?)`);
    }
    if (e.begin < cursor) fail(OP_DEC, `tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] overlap the previous tensor, which ends at ${cursor}`);
    if (e.begin > cursor) fail(OP_DEC, `tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] leave a gap after byte ${cursor}`);
    cursor = e.end;
  }
  if (cursor !== dataLength) fail(OP_DEC, `the tensors cover ${cursor} data bytes but the file has ${dataLength}: ${dataLength - cursor} trailing bytes`);

  const tensors: Record<string, DecodedTensor> = {};
  for (const e of entries) {
    tensors[e.name] = { shape: e.shape, dtype: e.dtype, data: toFloat32(bytes, dataStart + e.begin, product(e.shape), e.dtype) };
  }
  return { tensors, metadata };
}

let halfTable: Float32Array | undefined;
/** float32 value of every IEEE binary16 bit pattern (256 KB, built on first use). */
function halfToFloat(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1,
        exp = (h >> 10) & 0x1f,
        frac = h & 0x3ff;
      halfTable[h] = exp === 0 ? sign * frac * 2 ** -24 : exp === 31 ? (frac ? NaN : sign * Infinity) : sign * (1 + frac / 1024) * 2 ** (exp - 15);
    }
  }
  return halfTable;
}

function toFloat32(bytes: Uint8Array, at: number, count: number, dtype: string): Float32Array {
  const out = new Float32Array(count);
  if (dtype === "F32" && LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes.subarray(at, at + count * 4)); // copy: the source may be unaligned
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, count * ITEM_BYTES[dtype]!);
  if (dtype === "F32") for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
  else if (dtype === "F64") for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
  else if (dtype === "F16") {
    const table = halfToFloat();
    for (let i = 0; i < count; i++) out[i] = table[view.getUint16(2 * i, true)]!;
  } else {
    const bits = new Uint32Array(out.buffer); // BF16 is the top half of a float32
    for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
  }
  return out;
}

/** Options of loadInto: whether missing and extra tensors are accepted. */
export interface LoadIntoOptions {
  /** Accept targets the file does not contain (they keep their values). Default false. */
  allowMissing?: boolean;
  /** Accept tensors in the file that no target names (they are ignored). Default false. */
  allowExtra?: boolean;
}

/**
 * Copies decoded tensors into engine tensors by name. Validates everything first (every name
 * present, shapes equal, targets live float32), so on error no target has changed.
 */
export function loadInto(targets: Record<string, Tensor>, decoded: Pick<DecodedSafetensors, "tensors">, options: LoadIntoOptions = {}): void {
  const op = "loadInto";
  const source = decoded?.tensors;
  if (!source || typeof source !== "object") fail(op, "decoded must be the result of decodeSafetensors");
  const problems: string[] = [];
  const copies: [Tensor, Float32Array][] = [];
  for (const [name, t] of Object.entries(targets)) {
    if (!t || typeof t !== "object" || !("ptr" in t)) fail(op, `target "${name}" must be a Tensor`);
    t.assertLive(`${op}: target "${name}"`);
    if (t.dtype !== "f32") fail(op, `target "${name}" must be f32, got ${t.dtype}`);
    const s = Object.hasOwn(source, name) ? source[name] : undefined;
    if (!s) {
      if (!options.allowMissing) problems.push(`"${name}" is missing from the file`);
      continue;
    }
    if (s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i])) {
      problems.push(`"${name}" has shape ${fmtShape(s.shape)} in the file but ${fmtShape(t.shape)} in the target`);
      continue;
    }
    copies.push([t, s.data]);
  }
  if (!options.allowExtra) {
    for (const name of Object.keys(source)) if (!Object.hasOwn(targets, name)) problems.push(`"${name}" in the file matches no target`);
  }
  if (problems.length) fail(op, `nothing was loaded: ${problems.join("; ")}`);
  for (const [t, data] of copies) t.set(data);
}
