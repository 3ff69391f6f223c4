// Decoding and encoding of the onnx.proto messages simdnet uses, written against the field numbers
// of onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
// ValueInfoProto/TypeProto/TensorShapeProto, OperatorSetIdProto, StringStringEntryProto, FunctionProto).
// Unknown fields are skipped; strings and unsupported element types are errors; external tensor data
// is read through the caller's `externalData` reader (an error without one).
import { ProtobufError, ProtoReader, ProtoWriter, WIRE } from "./protobuf.js";

/** TensorProto.DataType codes. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
} as const;

const DATA_TYPE_NAMES = Object.fromEntries(Object.entries(DataType).map(([k, v]) => [v, k])) as Record<number, string>;
export const dataTypeName = (t: number): string => DATA_TYPE_NAMES[t] ?? `data_type ${t}`;

/** BFLOAT16's TensorProto.DataType code. */
export const BFLOAT16 = 16;

/**
 * Element types a TensorProto may hold here. FLOAT, FLOAT16 and BFLOAT16 decode to a Float32Array
 * (half floats converted to float32); every other type to a Float64Array.
 */
const SUPPORTED_TYPES = new Set<number>([
  DataType.FLOAT,
  DataType.DOUBLE,
  DataType.INT64,
  DataType.INT32,
  DataType.UINT8,
  DataType.INT8,
  DataType.BOOL,
  DataType.FLOAT16,
  BFLOAT16,
  DataType.INT16,
  DataType.UINT16,
  DataType.UINT32,
  DataType.UINT64,
]);

const decodesToFloat32 = (t: number): boolean => t === DataType.FLOAT || t === DataType.FLOAT16 || t === BFLOAT16;

/** IEEE half-precision bits to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1,
    exp = (h >> 10) & 0x1f,
    frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** A number to IEEE half-precision bits (via float32, rounded to nearest even). */
export function floatToHalf(v: number): number {
  f32Scratch[0] = v;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000,
    exp = (x >>> 23) & 0xff;
  let frac = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (frac ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // a half subnormal: value = m * 2^-24 with m = (1.frac as 24 bits) >> (14 - e)
    if (e < -10) return sign;
    frac |= 0x800000;
    const shift = 14 - e,
      m = frac >>> shift,
      rest = frac & ((1 << shift) - 1),
      half = 1 << (shift - 1);
    return sign | (m + (rest > half || (rest === half && m & 1) ? 1 : 0));
  }
  let h = sign | (e << 10) | (frac >>> 13);
  const rest = frac & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++; // a carry moves into the exponent, as it should
  return h;
}

/**
 * A decoded TensorProto: `data` is row-major; FLOAT, FLOAT16 and BFLOAT16 tensors are a
 * Float32Array (half floats converted), all others a Float64Array.
 */
export interface TensorProto {
  name: string;
  dims: number[];
  dataType: number;
  data: Float32Array | Float64Array;
  /** Encoding only: write the data as a reference into an external file instead of raw_data. */
  externalData?: ExternalDataRef;
}

/** Where a tensor's bytes live when TensorProto.data_location is EXTERNAL (external_data entries). */
export interface ExternalDataRef {
  location: string;
  /** Byte offset into the file (default 0). */
  offset?: number;
  /** Byte length (default: the tensor's size in bytes). */
  length?: number;
}

/**
 * Reads the bytes of an external tensor: `length` bytes at `offset` of file `location` (relative to
 * the model's directory); `tensor` names the tensor for errors. Throws when it cannot.
 */
export type ExternalDataReader = (location: string, offset: number, length: number, tensor: string) => Uint8Array;

/** AttributeProto.AttributeType codes. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
} as const;

/** An ONNX node attribute, decoded (onnx.proto AttributeProto; the field of its `type` is set). */
export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: string;
  t?: TensorProto;
  g?: GraphProto;
  floats?: number[];
  ints?: number[];
  strings?: string[];
  tensors?: TensorProto[];
  graphs?: GraphProto[];
  /** In a function body: the value is the calling node's attribute of this name (or the function's default). */
  refAttrName?: string;
}

/** One ONNX node, decoded (onnx.proto NodeProto). */
export interface NodeProto {
  name: string;
  opType: string;
  domain: string;
  input: string[];
  output: string[];
  attribute: AttributeProto[];
  docString?: string;
  /** The overload of a local function the node calls (NodeProto.overload). */
  overload?: string;
}

/** One dimension of a ValueInfo shape: a fixed size, a symbolic name, or unknown (null). */
export type Dim = number | string | null;

/** A graph input, output or value_info entry, decoded: name, element type, shape. */
export interface ValueInfoProto {
  name: string;
  /** TensorProto.DataType of a tensor value (0 if absent or not a tensor type). */
  elemType: number;
  /** undefined when the type has no shape (rank unknown). */
  shape?: Dim[];
  /** The kind of a value that is not a tensor (TypeProto's other fields); undefined for a tensor or no type. */
  nonTensor?: "sequence" | "map" | "sparse tensor" | "optional";
  docString?: string;
}

/** An ONNX graph, decoded (onnx.proto GraphProto): nodes in file order, initializers, inputs, outputs. */
export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  docString?: string;
}

/** An operator set a model imports (onnx.proto OperatorSetIdProto): domain and version. */
export interface OperatorSetIdProto {
  domain: string;
  version: number;
}

/** A model-local function (onnx.proto FunctionProto): nodes calling (domain, name) stand for its body. */
export interface FunctionProto {
  name: string;
  domain: string;
  overload?: string;
  /** Formal input and output names, read and written by the body's nodes. */
  input: string[];
  output: string[];
  /** Names of the attributes a call may give (without default). */
  attribute: string[];
  /** Attributes with their defaults (FunctionProto.attribute_proto). */
  attributeProto: AttributeProto[];
  node: NodeProto[];
  opsetImport: OperatorSetIdProto[];
}

/** An ONNX model file, decoded (onnx.proto ModelProto). */
export interface ModelProto {
  irVersion: number;
  opsetImport: OperatorSetIdProto[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  graph: GraphProto;
  metadataProps: { key: string; value: string }[];
  /** Model-local functions (absent when the file has none). */
  functions?: FunctionProto[];
}

/** Field names of each message (onnx.proto), for error messages. */
const FIELDS = {
  model: {
    1: "ir_version",
    2: "producer_name",
    3: "producer_version",
    4: "domain",
    5: "model_version",
    6: "doc_string",
    7: "graph",
    8: "opset_import",
    14: "metadata_props",
    25: "functions",
  },
  function: { 1: "name", 4: "input", 5: "output", 6: "attribute", 7: "node", 9: "opset_import", 10: "domain", 11: "attribute_proto", 13: "overload" },
  opset: { 1: "domain", 2: "version" },
  entry: { 1: "key", 2: "value" },
  graph: { 1: "node", 2: "name", 5: "initializer", 10: "doc_string", 11: "input", 12: "output", 13: "value_info", 15: "sparse_initializer" },
  node: { 1: "input", 2: "output", 3: "name", 4: "op_type", 5: "attribute", 6: "doc_string", 7: "domain", 8: "overload" },
  attribute: {
    1: "name",
    2: "f",
    3: "i",
    4: "s",
    5: "t",
    6: "g",
    7: "floats",
    8: "ints",
    9: "strings",
    10: "tensors",
    11: "graphs",
    20: "type",
    21: "ref_attr_name",
  },
  valueInfo: { 1: "name", 2: "type", 3: "doc_string" },
  type: { 1: "tensor_type" },
  tensorType: { 1: "elem_type", 2: "shape" },
  shape: { 1: "dim" },
  dim: { 1: "dim_value", 2: "dim_param" },
  tensor: {
    1: "dims",
    2: "data_type",
    3: "segment",
    4: "float_data",
    5: "int32_data",
    6: "string_data",
    7: "int64_data",
    8: "name",
    9: "raw_data",
    10: "double_data",
    13: "external_data",
    14: "data_location",
  },
} as const;

/** Graphs nest through attributes (If/Loop bodies); bound the depth so hostile input cannot overflow the stack. */
const MAX_DEPTH = 32;

// ---------------------------------------------------------------------------------------------
// Decoding

/** The external data reader of the decodeModel call running (decoding is synchronous). */
let externalReader: ExternalDataReader | undefined;

/**
 * Decodes a serialized ModelProto (the bytes of a .onnx file). Tensors stored in external files are
 * read with `options.externalData`; without it they are an error naming the tensor.
 */
export function decodeModel(bytes: Uint8Array, options: { externalData?: ExternalDataReader } = {}): ModelProto {
  const outer = externalReader;
  externalReader = options.externalData;
  try {
    return decodeModelProto(bytes);
  } finally {
    externalReader = outer;
  }
}

function decodeModelProto(bytes: Uint8Array): ModelProto {
  const r = new ProtoReader(bytes, "ModelProto");
  r.names = FIELDS.model;
  const m: ModelProto = {
    irVersion: 0,
    opsetImport: [],
    producerName: "",
    producerVersion: "",
    domain: "",
    modelVersion: 0,
    docString: "",
    graph: emptyGraph(),
    metadataProps: [],
  };
  let hasGraph = false;
  while (!r.done) {
    const [field, wire] = r.key();
    switch (field) {
      case 1:
        r.expect(WIRE.VARINT, wire);
        m.irVersion = r.int64();
        break;
      case 2:
        r.expect(WIRE.LEN, wire);
        m.producerName = r.string();
        break;
      case 3:
        r.expect(WIRE.LEN, wire);
        m.producerVersion = r.string();
        break;
      case 4:
        r.expect(WIRE.LEN, wire);
        m.domain = r.string();
        break;
      case 5:
        r.expect(WIRE.VARINT, wire);
        m.modelVersion = r.int64();
        break;
      case 6:
        r.expect(WIRE.LEN, wire);
        m.docString = r.string();
        break;
      case 7:
        r.expect(WIRE.LEN, wire);
        m.graph = readGraph(r.message("ModelProto.graph"), 0);
        hasGraph = true;
        break;
      case 8:
        r.expect(WIRE.LEN, wire);
        m.opsetImport.push(readOpset(r.message(`ModelProto.opset_import[${m.opsetImport.length}]`)));
        break;
      case 14:
        r.expect(WIRE.LEN, wire);
        m.metadataProps.push(readEntry(r.message("ModelProto.metadata_props")));
        break;
      case 25:
        r.expect(WIRE.LEN, wire);
        (m.functions ??= []).push(readFunction(r.message(`ModelProto.functions[${m.functions?.length ?? 0}]`)));
        break;
      default:
        r.skip(wire);
    }
  }
  if (!hasGraph) throw new ProtobufError("onnx: ModelProto has no graph (not an ONNX model, or an empty file)");
  return m;
}

/** Decodes a serialized TensorProto (e.g. a conformance case's input_0.pb). */
export function decodeTensor(bytes: Uint8Array, what = "TensorProto"): TensorProto {
  return readTensor(new ProtoReader(bytes, what));
}

const emptyGraph = (): GraphProto => ({ name: "", node: [], initializer: [], input: [], output: [], valueInfo: [] });

function readOpset(r: ProtoReader): OperatorSetIdProto {
  r.names = FIELDS.opset;
  const o: OperatorSetIdProto = { domain: "", version: 0 };
  while (!r.done) {
    const [field, wire] = r.key();
    if (field === 1) {
      r.expect(WIRE.LEN, wire);
      o.domain = r.string();
    } else if (field === 2) {
      r.expect(WIRE.VARINT, wire);
      o.version = r.int64();
    } else r.skip(wire);
  }
  return o;
}

function readEntry(r: ProtoReader): { key: string; value: string } {
  r.names = FIELDS.entry;
  const e = { key: "", value: "" };
  while (!r.done) {
    const [field, wire] = r.key();
    if (field === 1) {
      r.expect(WIRE.LEN, wire);
      e.key = r.string();
    } else if (field === 2) {
      r.expect(WIRE.LEN, wire);
      e.value = r.string();
    } else r.skip(wire);
  }
  return e;
}

function readFunction(r: ProtoReader): FunctionProto {
  r.names = FIELDS.function;
  const f: FunctionProto = { name: "", domain: "", input: [], output: [], attribute: [], attributeProto: [], node: [], opsetImport: [] };
  const w = r.what;
  while (!r.done) {
    const [field, wire] = r.key();
    if (field === 1 || field === 4 || field === 5 || field === 6 || field === 10 || field === 13) {
      r.expect(WIRE.LEN, wire);
      const v = r.string();
      if (field === 1) f.name = v;
      else if (field === 4) f.input.push(v);
      else if (field === 5) f.output.push(v);
      else if (field === 6) f.attribute.push(v);
      else if (field === 10) f.domain = v;
      else f.overload = v;
    } else if (field === 7) {
      r.expect(WIRE.LEN, wire);
      f.node.push(readNode(r.message(`${w}.node[${f.node.length}]`), 1));
    } else if (field === 9) {
      r.expect(WIRE.LEN, wire);
      f.opsetImport.push(readOpset(r.message(`${w}.opset_import[${f.opsetImport.length}]`)));
    } else if (field === 11) {
      r.expect(WIRE.LEN, wire);
      f.attributeProto.push(readAttribute(r.message(`${w}.attribute_proto[${f.attributeProto.length}]`), 1));
    } else r.skip(wire);
  }
  return f;
}

function readGraph(r: ProtoReader, depth: number): GraphProto {
  if (depth > MAX_DEPTH) r.fail(`graphs nested deeper than ${MAX_DEPTH}`);
  r.names = FIELDS.graph;
  const g = emptyGraph();
  const w = r.what;
  while (!r.done) {
    const [field, wire] = r.key();
    switch (field) {
      case 1:
        r.expect(WIRE.LEN, wire);
        g.node.push(readNode(r.message(`${w}.node[${g.node.length}]`), depth));
        break;
      case 2:
        r.expect(WIRE.LEN, wire);
        g.name = r.string();
        break;
      case 5:
        r.expect(WIRE.LEN, wire);
        g.initializer.push(readTensor(r.message(`${w}.initializer[${g.initializer.length}]`)));
        break;
      case 10:
        r.expect(WIRE.LEN, wire);
        g.docString = r.string();
        break;
      case 11:
        r.expect(WIRE.LEN, wire);
        g.input.push(readValueInfo(r.message(`${w}.input[${g.input.length}]`)));
        break;
      case 12:
        r.expect(WIRE.LEN, wire);
        g.output.push(readValueInfo(r.message(`${w}.output[${g.output.length}]`)));
        break;
      case 13:
        r.expect(WIRE.LEN, wire);
        g.valueInfo.push(readValueInfo(r.message(`${w}.value_info[${g.valueInfo.length}]`)));
        break;
      case 15:
        r.fail("sparse_initializer is not supported");
      default:
        r.skip(wire);
    }
  }
  return g;
}

function readNode(r: ProtoReader, depth: number): NodeProto {
  r.names = FIELDS.node;
  const n: NodeProto = { name: "", opType: "", domain: "", input: [], output: [], attribute: [] };
  while (!r.done) {
    const [field, wire] = r.key();
    switch (field) {
      case 1:
        r.expect(WIRE.LEN, wire);
        n.input.push(r.string());
        break;
      case 2:
        r.expect(WIRE.LEN, wire);
        n.output.push(r.string());
        break;
      case 3:
        r.expect(WIRE.LEN, wire);
        n.name = r.string();
        break;
      case 4:
        r.expect(WIRE.LEN, wire);
        n.opType = r.string();
        break;
      case 5:
        r.expect(WIRE.LEN, wire);
        n.attribute.push(readAttribute(r.message(`${r.what}.attribute[${n.attribute.length}]`), depth));
        break;
      case 6:
        r.expect(WIRE.LEN, wire);
        n.docString = r.string();
        break;
      case 7:
        r.expect(WIRE.LEN, wire);
        n.domain = r.string();
        break;
      case 8:
        r.expect(WIRE.LEN, wire);
        n.overload = r.string();
        break;
      default:
        r.skip(wire);
    }
  }
  return n;
}

function readAttribute(r: ProtoReader, depth: number): AttributeProto {
  r.names = FIELDS.attribute;
  const a: AttributeProto = { name: "", type: 0 };
  const w = r.what;
  while (!r.done) {
    const [field, wire] = r.key();
    switch (field) {
      case 1:
        r.expect(WIRE.LEN, wire);
        a.name = r.string();
        break;
      case 20:
        r.expect(WIRE.VARINT, wire);
        a.type = r.int64();
        break;
      case 2:
        r.expect(WIRE.I32, wire);
        a.f = r.float();
        break;
      case 3:
        r.expect(WIRE.VARINT, wire);
        a.i = r.int64();
        break;
      case 4:
        r.expect(WIRE.LEN, wire);
        a.s = r.string();
        break;
      case 5:
        r.expect(WIRE.LEN, wire);
        a.t = readTensor(r.message(`${w}.t`));
        break;
      case 6:
        r.expect(WIRE.LEN, wire);
        a.g = readGraph(r.message(`${w}.g`), depth + 1);
        break;
      case 7:
        r.floats(wire, (a.floats ??= []));
        break;
      case 8:
        r.varints(wire, (a.ints ??= []));
        break;
      case 9:
        r.expect(WIRE.LEN, wire);
        (a.strings ??= []).push(r.string());
        break;
      case 10:
        r.expect(WIRE.LEN, wire);
        (a.tensors ??= []).push(readTensor(r.message(`${w}.tensors`)));
        break;
      case 11:
        r.expect(WIRE.LEN, wire);
        (a.graphs ??= []).push(readGraph(r.message(`${w}.graphs`), depth + 1));
        break;
      case 21:
        r.expect(WIRE.LEN, wire);
        a.refAttrName = r.string();
        break;
      default:
        r.skip(wire);
    }
  }
  if (a.type === AttributeType.UNDEFINED) a.type = inferAttributeType(a); // IR version 1 had no type field
  return a;
}

function inferAttributeType(a: AttributeProto): number {
  if (a.f !== undefined) return AttributeType.FLOAT;
  if (a.i !== undefined) return AttributeType.INT;
  if (a.s !== undefined) return AttributeType.STRING;
  if (a.t) return AttributeType.TENSOR;
  if (a.g) return AttributeType.GRAPH;
  if (a.floats) return AttributeType.FLOATS;
  if (a.ints) return AttributeType.INTS;
  if (a.strings) return AttributeType.STRINGS;
  if (a.tensors) return AttributeType.TENSORS;
  if (a.graphs) return AttributeType.GRAPHS;
  return AttributeType.UNDEFINED;
}

function readValueInfo(r: ProtoReader): ValueInfoProto {
  r.names = FIELDS.valueInfo;
  const v: ValueInfoProto = { name: "", elemType: 0 };
  while (!r.done) {
    const [field, wire] = r.key();
    if (field === 1) {
      r.expect(WIRE.LEN, wire);
      v.name = r.string();
    } else if (field === 2) {
      r.expect(WIRE.LEN, wire);
      readTypeProto(r.message(`${r.what}.type`), v);
    } else if (field === 3) {
      r.expect(WIRE.LEN, wire);
      v.docString = r.string();
    } else r.skip(wire);
  }
  return v;
}

const NON_TENSOR_TYPES: Record<number, ValueInfoProto["nonTensor"]> = { 4: "sequence", 5: "map", 8: "sparse tensor", 9: "optional" };

/**
 * TypeProto: tensor_type (1) is read (TypeProto.Tensor: elem_type 1, shape 2); the other kinds
 * (sequence 4, map 5, sparse tensor 8, optional 9) are only named in `nonTensor`.
 */
function readTypeProto(r: ProtoReader, v: ValueInfoProto): void {
  r.names = FIELDS.type;
  while (!r.done) {
    const [field, wire] = r.key();
    if (field !== 1) {
      if (NON_TENSOR_TYPES[field]) v.nonTensor = NON_TENSOR_TYPES[field];
      r.skip(wire);
      continue;
    }
    r.expect(WIRE.LEN, wire);
    const t = r.message(`${r.what}.tensor_type`);
    t.names = FIELDS.tensorType;
    while (!t.done) {
      const [f, w] = t.key();
      if (f === 1) {
        t.expect(WIRE.VARINT, w);
        v.elemType = t.int64();
      } else if (f === 2) {
        t.expect(WIRE.LEN, w);
        v.shape = readShape(t.message(`${t.what}.shape`));
      } else t.skip(w);
    }
  }
}

/** TensorShapeProto: dim 1; Dimension: dim_value 1, dim_param 2. */
function readShape(r: ProtoReader): Dim[] {
  r.names = FIELDS.shape;
  const dims: Dim[] = [];
  while (!r.done) {
    const [field, wire] = r.key();
    if (field !== 1) {
      r.skip(wire);
      continue;
    }
    r.expect(WIRE.LEN, wire);
    const d = r.message(`${r.what}.dim[${dims.length}]`);
    d.names = FIELDS.dim;
    let dim: Dim = null;
    while (!d.done) {
      const [f, w] = d.key();
      if (f === 1) {
        d.expect(WIRE.VARINT, w);
        dim = d.int64();
      } else if (f === 2) {
        d.expect(WIRE.LEN, w);
        dim = d.string();
      } else d.skip(w);
    }
    dims.push(dim);
  }
  return dims;
}

function readTensor(r: ProtoReader): TensorProto {
  r.names = FIELDS.tensor;
  const dims: number[] = [];
  let dataType = 0,
    name = "";
  let raw: Uint8Array | undefined;
  const floats: number[] = [],
    int32s: number[] = [],
    int64s: number[] = [],
    doubles: number[] = [];
  let external = false;
  const ref: { location?: string; offset?: number; length?: number } = {};
  while (!r.done) {
    const [field, wire] = r.key();
    switch (field) {
      case 1:
        r.varints(wire, dims);
        break;
      case 2:
        r.expect(WIRE.VARINT, wire);
        dataType = r.int64();
        break;
      case 3:
        r.fail("segmented tensors are not supported");
      case 4:
        r.floats(wire, floats);
        break;
      case 5:
        r.varints(wire, int32s);
        break;
      case 6:
        r.fail("string tensors are not supported");
      case 7:
        r.varints(wire, int64s);
        break;
      case 8:
        r.expect(WIRE.LEN, wire);
        name = r.string();
        break;
      case 9:
        r.expect(WIRE.LEN, wire);
        raw = r.bytes();
        break;
      case 10:
        r.doubles(wire, doubles);
        break;
      case 13: {
        r.expect(WIRE.LEN, wire);
        const e = readEntry(r.message(`${r.what}.external_data`));
        if (e.key === "location") ref.location = e.value;
        else if (e.key === "offset" || e.key === "length") {
          const v = Number(e.value);
          if (!/^\d+$/.test(e.value) || !Number.isSafeInteger(v)) r.fail(`external_data ${e.key} "${e.value}" is not a byte count`);
          ref[e.key] = v;
        }
        external = true;
        break;
      }
      case 14:
        r.expect(WIRE.VARINT, wire);
        if (r.int64() === 1) external = true;
        break;
      default:
        r.skip(wire);
    }
  }
  const label = name ? `tensor "${name}"` : r.what;
  if (!SUPPORTED_TYPES.has(dataType)) throw new ProtobufError(`onnx: ${label} has unsupported element type ${dataTypeName(dataType)}`);
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw new ProtobufError(`onnx: ${label} has invalid dims [${dims.join(",")}]`);
  }
  const size = dims.reduce((a, b) => a * b, 1);
  if (external) {
    if (!ref.location) throw new ProtobufError(`onnx: ${label} is stored externally but its external_data has no location`);
    if (!externalReader)
      throw new ProtobufError(
        `onnx: ${label} stores its data in the external file "${ref.location}": create the session from the model's file path, or pass the file's bytes as options.externalData["${ref.location}"]`,
      );
    const length = ref.length ?? size * elementBytes(dataType);
    raw = externalReader(ref.location, ref.offset ?? 0, length, label);
  }
  const values =
    dataType === DataType.FLOAT
      ? floats
      : dataType === DataType.DOUBLE
        ? doubles
        : dataType === DataType.INT64 || dataType === DataType.UINT64
          ? int64s
          : int32s;
  const count = raw ? raw.length / elementBytes(dataType) : values.length;
  if (count !== size) {
    throw new ProtobufError(`onnx: ${label} of shape [${dims.join(",")}] (${size} elements) holds ${count} ${dataTypeName(dataType)} values`);
  }
  const data = decodesToFloat32(dataType) ? new Float32Array(size) : new Float64Array(size);
  if (raw) readRaw(raw, dataType, data);
  else if (dataType === DataType.FLOAT16) for (let i = 0; i < size; i++) data[i] = halfToFloat(values[i]! & 0xffff);
  else if (dataType === BFLOAT16) for (let i = 0; i < size; i++) data[i] = bfloatToFloat(values[i]! & 0xffff);
  else if (dataType === DataType.UINT64) for (let i = 0; i < size; i++) data[i] = values[i]! < 0 ? values[i]! + 2 ** 64 : values[i]!;
  else data.set(values);
  return { name, dims, dataType, data };
}

function elementBytes(dataType: number): number {
  switch (dataType) {
    case DataType.FLOAT:
    case DataType.INT32:
    case DataType.UINT32:
      return 4;
    case DataType.DOUBLE:
    case DataType.INT64:
    case DataType.UINT64:
      return 8;
    case DataType.FLOAT16:
    case BFLOAT16:
    case DataType.INT16:
    case DataType.UINT16:
      return 2;
    default:
      return 1; // UINT8, INT8, BOOL
  }
}

/** bfloat16 bits to a number (the high half of a float32). */
function bfloatToFloat(h: number): number {
  const u = new Uint32Array([h << 16]);
  return new Float32Array(u.buffer)[0]!;
}

/** Little-endian raw_data into `out` (already sized). */
function readRaw(raw: Uint8Array, dataType: number, out: Float32Array | Float64Array): void {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const n = out.length;
  switch (dataType) {
    case DataType.FLOAT:
      if (raw.byteOffset % 4 === 0)
        out.set(new Float32Array(raw.buffer, raw.byteOffset, n)); // little-endian hosts (wasm's order)
      else out.set(new Float32Array(new Uint8Array(raw).buffer, 0, n)); // a copy (Node Buffer.slice would be a view)
      break;
    case DataType.FLOAT16:
      for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true));
      break;
    case BFLOAT16:
      for (let i = 0; i < n; i++) out[i] = bfloatToFloat(dv.getUint16(i * 2, true));
      break;
    case DataType.INT16:
      for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true);
      break;
    case DataType.UINT16:
      for (let i = 0; i < n; i++) out[i] = dv.getUint16(i * 2, true);
      break;
    case DataType.UINT32:
      for (let i = 0; i < n; i++) out[i] = dv.getUint32(i * 4, true);
      break;
    case DataType.UINT64:
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigUint64(i * 8, true));
      break;
    case DataType.DOUBLE:
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true);
      break;
    case DataType.INT32:
      for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
      break;
    case DataType.INT64:
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(i * 8, true));
      break;
    case DataType.INT8:
      for (let i = 0; i < n; i++) out[i] = dv.getInt8(i);
      break;
    default:
      for (let i = 0; i < n; i++) out[i] = dv.getUint8(i);
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding (the inverse of the decoders above: decodeModel(encodeModel(m)) deep-equals m)

/** Serializes a ModelProto to the bytes of a .onnx file. */
export function encodeModel(m: ModelProto): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, m.irVersion);
  if (m.producerName) w.string(2, m.producerName);
  if (m.producerVersion) w.string(3, m.producerVersion);
  if (m.domain) w.string(4, m.domain);
  if (m.modelVersion) w.int(5, m.modelVersion);
  if (m.docString) w.string(6, m.docString);
  w.message(7, (g) => writeGraph(g, m.graph));
  for (const o of m.opsetImport) {
    w.message(8, (x) => {
      if (o.domain) x.string(1, o.domain);
      x.int(2, o.version);
    });
  }
  for (const e of m.metadataProps) {
    w.message(14, (x) => {
      x.string(1, e.key);
      x.string(2, e.value);
    });
  }
  for (const f of m.functions ?? []) w.message(25, (x) => writeFunction(x, f));
  return w.finish();
}

/** Serializes a TensorProto (raw_data, little-endian). */
export function encodeTensor(t: TensorProto): Uint8Array {
  const w = new ProtoWriter();
  writeTensor(w, t);
  return w.finish();
}

function writeFunction(w: ProtoWriter, f: FunctionProto): void {
  w.string(1, f.name);
  for (const s of f.input) w.string(4, s);
  for (const s of f.output) w.string(5, s);
  for (const s of f.attribute) w.string(6, s);
  for (const n of f.node) w.message(7, (x) => writeNode(x, n));
  for (const o of f.opsetImport) {
    w.message(9, (x) => {
      if (o.domain) x.string(1, o.domain);
      x.int(2, o.version);
    });
  }
  if (f.domain) w.string(10, f.domain);
  for (const a of f.attributeProto) w.message(11, (x) => writeAttribute(x, a));
  if (f.overload) w.string(13, f.overload);
}

function writeGraph(w: ProtoWriter, g: GraphProto): void {
  for (const n of g.node) w.message(1, (x) => writeNode(x, n));
  if (g.name) w.string(2, g.name);
  for (const t of g.initializer) w.message(5, (x) => writeTensor(x, t));
  if (g.docString) w.string(10, g.docString);
  for (const v of g.input) w.message(11, (x) => writeValueInfo(x, v));
  for (const v of g.output) w.message(12, (x) => writeValueInfo(x, v));
  for (const v of g.valueInfo) w.message(13, (x) => writeValueInfo(x, v));
}

function writeNode(w: ProtoWriter, n: NodeProto): void {
  for (const s of n.input) w.string(1, s);
  for (const s of n.output) w.string(2, s);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attribute) w.message(5, (x) => writeAttribute(x, a));
  if (n.docString) w.string(6, n.docString);
  if (n.domain) w.string(7, n.domain);
  if (n.overload) w.string(8, n.overload);
}

function writeAttribute(w: ProtoWriter, a: AttributeProto): void {
  w.string(1, a.name);
  if (a.f !== undefined) w.float(2, a.f);
  if (a.i !== undefined) w.int(3, a.i);
  if (a.s !== undefined) w.string(4, a.s);
  if (a.t) w.message(5, (x) => writeTensor(x, a.t!));
  if (a.g) w.message(6, (x) => writeGraph(x, a.g!));
  if (a.floats) w.packedFloats(7, a.floats);
  if (a.ints) w.packedVarints(8, a.ints);
  for (const s of a.strings ?? []) w.string(9, s);
  for (const t of a.tensors ?? []) w.message(10, (x) => writeTensor(x, t));
  for (const g of a.graphs ?? []) w.message(11, (x) => writeGraph(x, g));
  w.int(20, a.type);
  if (a.refAttrName) w.string(21, a.refAttrName);
}

function writeValueInfo(w: ProtoWriter, v: ValueInfoProto): void {
  w.string(1, v.name);
  if (v.elemType || v.shape) {
    w.message(2, (type) =>
      type.message(1, (tt) => {
        if (v.elemType) tt.int(1, v.elemType);
        if (v.shape) {
          tt.message(2, (shape) => {
            for (const d of v.shape!) {
              shape.message(1, (dim) => {
                if (typeof d === "number") dim.int(1, d);
                else if (typeof d === "string") dim.string(2, d);
              });
            }
          });
        }
      }),
    );
  }
  if (v.docString) w.string(3, v.docString);
}

function writeTensor(w: ProtoWriter, t: TensorProto): void {
  w.packedVarints(1, t.dims);
  w.int(2, t.dataType);
  if (t.name) w.string(8, t.name);
  if (t.externalData) {
    const { location, offset, length } = t.externalData;
    const entries: [string, string][] = [["location", location]];
    if (offset !== undefined) entries.push(["offset", String(offset)]);
    if (length !== undefined) entries.push(["length", String(length)]);
    for (const [key, value] of entries) {
      w.message(13, (x) => {
        x.string(1, key);
        x.string(2, value);
      });
    }
    w.int(14, 1);
    return;
  }
  const n = t.data.length;
  const raw = new Uint8Array(n * elementBytes(t.dataType));
  const dv = new DataView(raw.buffer);
  const d = t.data;
  switch (t.dataType) {
    case DataType.FLOAT:
      for (let i = 0; i < n; i++) dv.setFloat32(i * 4, d[i]!, true);
      break;
    case DataType.DOUBLE:
      for (let i = 0; i < n; i++) dv.setFloat64(i * 8, d[i]!, true);
      break;
    case DataType.INT32:
      for (let i = 0; i < n; i++) dv.setInt32(i * 4, d[i]!, true);
      break;
    case DataType.INT64:
      for (let i = 0; i < n; i++) dv.setBigInt64(i * 8, BigInt(d[i]!), true);
      break;
    case DataType.INT8:
      for (let i = 0; i < n; i++) dv.setInt8(i, d[i]!);
      break;
    case DataType.UINT8:
    case DataType.BOOL:
      for (let i = 0; i < n; i++) dv.setUint8(i, d[i]!);
      break;
    default:
      throw new ProtobufError(`onnx: cannot encode tensor "${t.name}" of element type ${dataTypeName(t.dataType)}`);
  }
  w.bytes(9, raw);
}
