// A tiny protobuf encoder for one-operator ONNX models, built in memory for onnxruntime-web
// (`InferenceSession.create(bytes)`). Only what the bench needs: ModelProto > GraphProto with one
// NodeProto, float32 initializers as raw_data, fixed-shape float32 inputs/outputs, and int / ints /
// float / string attributes. Field numbers follow onnx/onnx.proto (proto2; repeated int64 written
// unpacked, which every protobuf parser accepts).

const WIRE_VARINT = 0, WIRE_LEN = 2, WIRE_FIXED32 = 5;
const enc = new TextEncoder();

/** Byte writer with the protobuf primitives; keeps large payloads as chunks (no per-byte copy). */
class Writer {
  constructor() {
    this.parts = [];
    this.small = [];
    this.length = 0;
  }
  flush() {
    if (this.small.length) {
      this.parts.push(Uint8Array.from(this.small));
      this.small = [];
    }
  }
  varint(v) {
    let n = BigInt.asUintN(64, BigInt(v));
    while (n >= 0x80n) {
      this.small.push(Number(n & 0x7fn) | 0x80);
      this.length++;
      n >>= 7n;
    }
    this.small.push(Number(n));
    this.length++;
    return this;
  }
  tag(field, wire) {
    return this.varint((field << 3) | wire);
  }
  int(field, v) {
    return this.tag(field, WIRE_VARINT).varint(v);
  }
  float(field, v) {
    this.tag(field, WIRE_FIXED32);
    for (const b of new Uint8Array(new Float32Array([v]).buffer)) this.small.push(b);
    this.length += 4;
    return this;
  }
  raw(field, u8) {
    this.tag(field, WIRE_LEN).varint(u8.length);
    this.flush();
    this.parts.push(u8);
    this.length += u8.length;
    return this;
  }
  string(field, s) {
    return this.raw(field, enc.encode(s));
  }
  message(field, writer) {
    return this.raw(field, writer.finish());
  }
  finish() {
    this.flush();
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

// onnx.proto field numbers
const ATTR = { name: 1, f: 2, i: 3, s: 4, floats: 7, ints: 8, type: 20 };
const ATTR_TYPE = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 };
const FLOAT = 1; // TensorProto.DataType.FLOAT

function attribute(name, value) {
  const w = new Writer().string(ATTR.name, name);
  if (typeof value === "string") w.raw(ATTR.s, enc.encode(value)).int(ATTR.type, ATTR_TYPE.STRING);
  else if (Array.isArray(value)) {
    for (const v of value) w.int(ATTR.ints, v);
    w.int(ATTR.type, ATTR_TYPE.INTS);
  } else if (Number.isInteger(value)) w.int(ATTR.i, value).int(ATTR.type, ATTR_TYPE.INT);
  else if (value && value.float !== undefined) w.float(ATTR.f, value.float).int(ATTR.type, ATTR_TYPE.FLOAT);
  else throw new Error(`onnx: unsupported attribute value for ${name}: ${JSON.stringify(value)}`);
  return w;
}

function tensorProto(name, dims, data) {
  const w = new Writer();
  for (const d of dims) w.int(1, d); // dims
  w.int(2, FLOAT); // data_type
  w.string(8, name); // name
  const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
  if (f32.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`onnx: initializer ${name} has ${f32.length} values for dims [${dims}]`);
  w.raw(9, new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength)); // raw_data (little-endian)
  return w;
}

function valueInfo(name, dims) {
  const shape = new Writer();
  for (const d of dims) shape.message(1, new Writer().int(1, d)); // TensorShapeProto.dim { dim_value }
  const tensorType = new Writer().int(1, FLOAT).message(2, shape); // TypeProto.Tensor { elem_type, shape }
  const type = new Writer().message(1, tensorType); // TypeProto { tensor_type }
  return new Writer().string(1, name).message(2, type); // ValueInfoProto { name, type }
}

/**
 * Serialises a model holding one operator.
 * @param {object} spec
 * @param {string} spec.op              ONNX op_type, e.g. "Conv"
 * @param {Record<string, number[]>} spec.inputs   graph inputs fed at run time: name -> dims
 * @param {Record<string, {dims: number[], data: Float32Array}>} [spec.initializers]  constant operands
 * @param {string[]} spec.operands      the node's inputs in ONNX order (names of inputs / initializers)
 * @param {Record<string, number[]>} spec.outputs  name -> dims
 * @param {Record<string, number | number[] | string | {float: number}>} [spec.attributes]
 * @param {number} [spec.opset] default 17
 * @returns {Uint8Array} the ModelProto bytes
 */
export function oneOpModel({ op, inputs, initializers = {}, operands, outputs, attributes = {}, opset = 17 }) {
  const node = new Writer();
  for (const name of operands) node.string(1, name);
  for (const name of Object.keys(outputs)) node.string(2, name);
  node.string(3, `${op}_0`).string(4, op);
  for (const [k, v] of Object.entries(attributes)) node.message(5, attribute(k, v));

  const graph = new Writer().message(1, node).string(2, `bench_${op}`);
  for (const [name, { dims, data }] of Object.entries(initializers)) graph.message(5, tensorProto(name, dims, data));
  for (const [name, dims] of Object.entries(inputs)) graph.message(11, valueInfo(name, dims));
  for (const [name, dims] of Object.entries(outputs)) graph.message(12, valueInfo(name, dims));

  return new Writer()
    .int(1, 8) // ir_version 8 (ONNX 1.13+)
    .string(2, "simdnet-bench") // producer_name
    .message(7, graph)
    .message(8, new Writer().string(1, "").int(2, opset)) // opset_import { domain "", version }
    .finish();
}
