// Small ONNX graphs built in memory for tests (the project's own encoder).
import { AttributeType, type AttributeProto, DataType, encodeModel, type NodeProto, type TensorProto } from "../src/onnx/onnx-proto.js";

export const ints = (name: string, v: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints: v });
export const int = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.INT, i: v });
export const floats = (name: string, v: number[]): AttributeProto => ({ name, type: AttributeType.FLOATS, floats: v });
export const str = (name: string, v: string): AttributeProto => ({ name, type: AttributeType.STRING, s: v });
export const node = (opType: string, input: string[], output: string, attribute: AttributeProto[] = []): NodeProto => ({
  name: output,
  opType,
  domain: "",
  input,
  output: [output],
  attribute,
});
export const floatTensor = (name: string, dims: number[], data: ArrayLike<number>): TensorProto => ({
  name,
  dims,
  dataType: DataType.FLOAT,
  data: Float32Array.from(data),
});
export const int64Tensor = (name: string, dims: number[], data: ArrayLike<number>): TensorProto => ({
  name,
  dims,
  dataType: DataType.INT64,
  data: Float64Array.from(data),
});

/** A one-input, one-output model of `nodes` (opset 13 unless given). */
export function onnxBytes(
  nodes: NodeProto[],
  inits: TensorProto[],
  inputShape: (number | string)[],
  output: string | string[],
  { opset = 13, input = "x" }: { opset?: number; input?: string } = {},
): Uint8Array {
  return encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: "", version: opset }],
    producerName: "test",
    producerVersion: "",
    domain: "",
    modelVersion: 0,
    docString: "",
    metadataProps: [],
    graph: {
      name: "g",
      node: nodes,
      initializer: inits,
      valueInfo: [],
      input: [{ name: input, elemType: DataType.FLOAT, shape: inputShape }],
      output: (Array.isArray(output) ? output : [output]).map((name) => ({ name, elemType: DataType.FLOAT })),
    },
  });
}
