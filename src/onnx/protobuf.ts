// A small protobuf wire-format reader and writer (proto2/proto3 binary encoding), enough for
// onnx.proto: varints (64-bit values returned as JS numbers, exact up to 2^53), length-delimited
// fields, fixed32/fixed64 and packed repeated scalars. Every read is bounds-checked: a truncated or
// malformed buffer throws a SimdnetError naming the message and field being read, never reads past
// the end and never loops without consuming input.
import { SimdnetError } from "../errors.js";

/** Protobuf wire types. Groups (3, 4) are deprecated and rejected. */
export const WIRE = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;

const TWO_32 = 2 ** 32;

/** Thrown for malformed protobuf input. */
export class ProtobufError extends SimdnetError {
  override name = "ProtobufError";
}

/**
 * Reads one message's fields from `buf[start, end)`. `what` names the message (e.g.
 * "ModelProto.graph.node[3]") and appears in every error.
 */
export class ProtoReader {
  pos: number;
  /** The field being read, for error messages. */
  field = 0;
  /** Field names by number, for error messages (set by the message decoder). */
  names?: Readonly<Record<number, string>>;

  constructor(
    readonly buf: Uint8Array,
    readonly what: string,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  fail(message: string): never {
    const name = this.names?.[this.field];
    const where = this.field ? `${this.what} field ${this.field}${name ? ` (${name})` : ""}` : this.what;
    throw new ProtobufError(`onnx: malformed protobuf in ${where} at byte ${this.pos}: ${message}`);
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** Checks that `n` more bytes exist before the message end. */
  private need(n: number): void {
    if (n < 0 || this.pos + n > this.end) {
      this.fail(`truncated (needs ${n} bytes, ${this.end - this.pos} left)`);
    }
  }

  /** An unsigned varint as two 32-bit halves [lo, hi]. At most 10 bytes. */
  private varintParts(): [number, number] {
    let lo = 0,
      hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail("truncated varint");
      const b = this.buf[this.pos++]!;
      const bits = b & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >> 4;
      } else hi |= bits << (7 * i - 32);
      if (b < 0x80) return [lo >>> 0, hi >>> 0];
    }
    this.fail("varint longer than 10 bytes");
  }

  /**
   * A varint as a signed 64-bit integer (int64/int32 two's complement) converted to a number:
   * exact for |v| <= 2^53; larger magnitudes (e.g. INT64_MAX used as "to the end") are rounded.
   */
  int64(): number {
    const [lo, hi] = this.varintParts();
    return hi >= 0x80000000 ? (hi - TWO_32) * TWO_32 + lo : hi * TWO_32 + lo;
  }

  /** A varint as an unsigned integer (tags, lengths, enums); fails if above 2^53. */
  uint(): number {
    const [lo, hi] = this.varintParts();
    if (hi > 0x1fffff) this.fail("varint too large");
    return hi * TWO_32 + lo;
  }

  /** A field key: [field number, wire type]. */
  key(): [number, number] {
    this.field = 0;
    const k = this.uint();
    const field = Math.floor(k / 8),
      wire = k & 7;
    if (field === 0) this.fail("field number 0");
    this.field = field;
    return [field, wire];
  }

  float(): number {
    this.need(4);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.need(8);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }

  /** A length-delimited field's bytes (a view, not a copy). */
  bytes(): Uint8Array {
    const len = this.uint();
    this.need(len);
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }

  string(): string {
    return new TextDecoder("utf-8").decode(this.bytes());
  }

  /** A reader over a length-delimited sub-message. */
  message(what: string): ProtoReader {
    const len = this.uint();
    this.need(len);
    const r = new ProtoReader(this.buf, what, this.pos, this.pos + len);
    this.pos += len;
    return r;
  }

  /** Skips a field of the given wire type. */
  skip(wire: number): void {
    if (wire === WIRE.VARINT) this.varintParts();
    else if (wire === WIRE.I64) {
      this.need(8);
      this.pos += 8;
    } else if (wire === WIRE.I32) {
      this.need(4);
      this.pos += 4;
    } else if (wire === WIRE.LEN) {
      const len = this.uint();
      this.need(len);
      this.pos += len;
    } else this.fail(`unsupported wire type ${wire}`);
  }

  /** Checks the wire type of the current field. */
  expect(wire: number, actual: number): void {
    if (wire !== actual) this.fail(`wire type ${actual}, expected ${wire}`);
  }

  /** Repeated int64/int32 values, packed (LEN) or one per key (VARINT); appended to `out`. */
  varints(wire: number, out: number[]): void {
    if (wire === WIRE.VARINT) {
      out.push(this.int64());
      return;
    }
    this.expect(WIRE.LEN, wire);
    const r = this.message(this.what);
    r.field = this.field;
    r.names = this.names;
    while (!r.done) out.push(r.int64());
  }

  /** Repeated float values, packed (LEN) or one per key (I32); appended to `out`. */
  floats(wire: number, out: number[]): void {
    if (wire === WIRE.I32) {
      out.push(this.float());
      return;
    }
    this.expect(WIRE.LEN, wire);
    const r = this.message(this.what);
    r.field = this.field;
    r.names = this.names;
    if ((r.end - r.pos) % 4 !== 0) r.fail("packed float length is not a multiple of 4");
    while (!r.done) out.push(r.float());
  }

  /** Repeated double values, packed (LEN) or one per key (I64); appended to `out`. */
  doubles(wire: number, out: number[]): void {
    if (wire === WIRE.I64) {
      out.push(this.double());
      return;
    }
    this.expect(WIRE.LEN, wire);
    const r = this.message(this.what);
    r.field = this.field;
    r.names = this.names;
    if ((r.end - r.pos) % 8 !== 0) r.fail("packed double length is not a multiple of 8");
    while (!r.done) out.push(r.double());
  }
}

/** Builds a protobuf message. Nested messages are encoded separately and written as bytes. */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private cur = new Uint8Array(256);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.cur.length) return;
    this.chunks.push(this.cur.subarray(0, this.len));
    this.cur = new Uint8Array(Math.max(256, n, this.cur.length * 2));
    this.len = 0;
  }

  private byte(b: number): void {
    this.reserve(1);
    this.cur[this.len++] = b;
  }

  /** An unsigned varint of a non-negative integer <= 2^53, or a negative int64 (10 bytes). */
  varint(v: number): void {
    if (!Number.isInteger(v)) throw new ProtobufError(`onnx: cannot encode ${v} as an integer`);
    let lo: number, hi: number;
    if (v >= 0) {
      lo = (v % TWO_32) >>> 0;
      hi = Math.floor(v / TWO_32) >>> 0;
    } else {
      const big = BigInt.asUintN(64, BigInt(v));
      lo = Number(big & 0xffffffffn);
      hi = Number(big >> 32n);
    }
    while (hi > 0 || lo > 0x7f) {
      this.byte((lo & 0x7f) | 0x80);
      lo = ((lo >>> 7) | ((hi & 0x7f) << 25)) >>> 0;
      hi = hi >>> 7;
    }
    this.byte(lo);
  }

  key(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  int(field: number, v: number): void {
    this.key(field, WIRE.VARINT);
    this.varint(v);
  }

  float(field: number, v: number): void {
    this.key(field, WIRE.I32);
    this.reserve(4);
    new DataView(this.cur.buffer, this.cur.byteOffset + this.len, 4).setFloat32(0, v, true);
    this.len += 4;
  }

  bytes(field: number, b: Uint8Array): void {
    this.key(field, WIRE.LEN);
    this.varint(b.length);
    this.reserve(b.length);
    this.cur.set(b, this.len);
    this.len += b.length;
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  /** A nested message: `build` fills a fresh writer whose bytes become this field. */
  message(field: number, build: (w: ProtoWriter) => void): void {
    const w = new ProtoWriter();
    build(w);
    this.bytes(field, w.finish());
  }

  packedVarints(field: number, values: ArrayLike<number>): void {
    if (values.length === 0) return;
    const w = new ProtoWriter();
    for (let i = 0; i < values.length; i++) w.varint(values[i]!);
    this.bytes(field, w.finish());
  }

  packedFloats(field: number, values: ArrayLike<number>): void {
    if (values.length === 0) return;
    const b = new Uint8Array(values.length * 4);
    const dv = new DataView(b.buffer);
    for (let i = 0; i < values.length; i++) dv.setFloat32(i * 4, values[i]!, true);
    this.bytes(field, b);
  }

  finish(): Uint8Array {
    const parts = [...this.chunks, this.cur.subarray(0, this.len)];
    const total = parts.reduce((a, p) => a + p.length, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}
