// One-operator ONNX models for onnxruntime-web (`InferenceSession.create(bytes)`), written with
// simdnet's own ONNX encoder (src/onnx/onnx-proto.ts, exported from the package): float32
// initializers, fixed-shape float32 inputs/outputs, int / ints / float / string attributes.
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const { encodeModel } = await import(join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "simdnet.js"));
const FLOAT = 1; // TensorProto.DataType FLOAT
/** AttributeProto.AttributeType codes (onnx.proto). */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 };

function attribute(name, value) {
  if (typeof value === "string") return { name, type: AttributeType.STRING, s: value };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if (Number.isInteger(value)) return { name, type: AttributeType.INT, i: value };
  if (value && value.float !== undefined) return { name, type: AttributeType.FLOAT, f: value.float };
  throw new Error(`onnx: unsupported attribute value for ${name}: ${JSON.stringify(value)}`);
}

function tensor(name, dims, data) {
  const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
  if (f32.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`onnx: initializer ${name} has ${f32.length} values for dims [${dims}]`);
  return { name, dims, dataType: FLOAT, data: f32 };
}

const valueInfo = (name, dims) => ({ name, elemType: FLOAT, shape: dims });

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
  return encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: "", version: opset }],
    producerName: "simdnet-bench",
    producerVersion: "",
    domain: "",
    modelVersion: 0,
    docString: "",
    metadataProps: [],
    graph: {
      name: `bench_${op}`,
      node: [
        {
          name: `${op}_0`,
          opType: op,
          domain: "",
          input: operands,
          output: Object.keys(outputs),
          attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
        },
      ],
      initializer: Object.entries(initializers).map(([name, { dims, data }]) => tensor(name, dims, data)),
      input: Object.entries(inputs).map(([name, dims]) => valueInfo(name, dims)),
      output: Object.entries(outputs).map(([name, dims]) => valueInfo(name, dims)),
      valueInfo: [],
    },
  });
}
