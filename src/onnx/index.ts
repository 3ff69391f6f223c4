// The public ONNX API (runs in every runtime: no file system access here; the Node-only
// conformance runner is src/onnx/conformance.ts).
export { importOnnx, OnnxModel, MIN_OPSET, MAX_OPSET, type OnnxFeed, type OnnxInputInfo, type OnnxTensorData } from "./model.js";
export {
  decodeModel,
  encodeModel,
  decodeTensor,
  encodeTensor,
  DataType as OnnxDataType,
  AttributeType as OnnxAttributeType,
  type ModelProto,
  type GraphProto,
  type NodeProto,
  type AttributeProto,
  type TensorProto,
  type ValueInfoProto,
  type OperatorSetIdProto,
} from "./onnx-proto.js";
export {
  importOnnxModel,
  OnnxImportedModel,
  NotConvertibleError,
  weightInputs,
  MODEL_MAPPED_OPS,
  type ImportModelOptions,
  type OnnxBinding,
  type OnnxLayout,
} from "./to-model.js";
export { ONNX_LAYER_KINDS } from "./layers.js";
export { exportOnnx, type ExportOnnxOptions } from "./export.js";
