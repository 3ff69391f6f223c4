// The ModelProto of a small ONNX graph, for tests that build models with the project's own encoder
// (tests/graph-models.ts modelBytes, tests/op-cases.ts caseModel). No onnxruntime import here.
import { DataType, type ModelProto, type NodeProto, type TensorProto } from "../src/onnx/onnx-proto.js";

export interface ModelSpec {
  nodes: NodeProto[];
  inits?: TensorProto[];
  /** [name, shape, element type (FLOAT)] */
  inputs: [string, number[], number?][];
  /** name, or [name, element type, declared shape (none)] */
  outputs: (string | [string, number] | [string, number, number[]])[];
  opset?: number;
}

/** One graph "g" of `s` at opset s.opset (17), inputs FLOAT unless typed, outputs likewise. */
export function modelProto(s: ModelSpec): ModelProto {
  return {
    irVersion: 8,
    opsetImport: [{ domain: "", version: s.opset ?? 17 }],
    producerName: "simdnet-test",
    producerVersion: "",
    domain: "",
    modelVersion: 0,
    docString: "",
    metadataProps: [],
    graph: {
      name: "g",
      node: s.nodes,
      initializer: s.inits ?? [],
      valueInfo: [],
      input: s.inputs.map(([name, shape, t]) => ({ name, elemType: t ?? DataType.FLOAT, shape })),
      output: s.outputs.map((o) =>
        typeof o === "string" ? { name: o, elemType: DataType.FLOAT } : { name: o[0], elemType: o[1], ...(o[2] ? { shape: o[2] } : {}) },
      ),
    },
  };
}
