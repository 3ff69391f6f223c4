// simdnet: convolutional neural networks on WebAssembly SIMD, forward and backward.
// Tensors are float32 NHWC; conv weights [KH, KW, Cin/groups, Cout]. See README.md.
//
// The public API: every name a user can import, listed here (no `export *`), each with a doc
// comment at its declaration. tests/api.test.ts compares the surface with api/simdnet.api.md, so
// adding, removing or changing an export means `npm run api:update` and committing the new report.
// Internals (kernel choice policies, test hooks, the wasm boundary) are imported from their modules.

// Engine, tensors, errors
export { init, Engine, checkBudget, type InitOptions } from "./engine.js";
export { Tensor, type Shape, type DType } from "./tensor.js";
export { SimdnetError, OutOfMemoryError } from "./errors.js";
export { DEFAULT_MEMORY_LIMIT } from "./memory.js";
export { BUILDS, detectBuild, type BuildName } from "./runtime.js";

// Ops: forward and backward
export { relu, reluBackward, add, addBackward, axpy, biasBackward, fill } from "./ops/elementwise.js";
export {
  conv2d,
  conv2dBackward,
  conv2dBackwardInput,
  conv2dBackwardFilter,
  convTranspose2d,
  convTranspose2dBackward,
  conv2dOutputShape,
  convTranspose2dOutputShape,
  conv2dWorkspaceBytes,
  convTranspose2dWorkspaceBytes,
  conv2dAlgorithms,
  type ConvAlgorithmInfo,
  type Conv2dOptions,
  type ConvTranspose2dOptions,
  type ConvRunOptions,
  type Conv2dAttributes,
  type ConvTranspose2dAttributes,
  type ConvPass,
  type ConvTarget,
  type AutoPad,
} from "./ops/conv2d.js";
export {
  dense,
  denseBackward,
  packDenseWeights,
  matmul,
  matmulBackward,
  gemm,
  gemmBackward,
  PackedDenseWeights,
  type MatmulOptions,
  type GemmOptions,
} from "./ops/dense.js";
export {
  maxPool2d,
  maxPool2dInference,
  maxPool2dBackward,
  avgPool2d,
  avgPool2dBackward,
  globalAvgPool,
  globalAvgPoolBackward,
  globalMaxPool,
  globalMaxPoolBackward,
  pool2dOutputShape,
  type Pool2dOptions,
} from "./ops/pool.js";
export { leakyRelu, leakyReluBackward, prelu, preluBackward, sigmoid, sigmoidBackward, tanh, tanhBackward } from "./ops/activation.js";
export { softmax, softmaxBackward, logSoftmax, logSoftmaxBackward, softmaxCrossEntropy, softmaxCrossEntropyBackward } from "./ops/softmax.js";
export {
  batchNormTraining,
  batchNormInference,
  batchNormBackward,
  type BatchNormOptions,
  type BatchNormTrainingOptions,
  type BatchNormSaved,
} from "./ops/batchnorm.js";
export { lrn, lrnBackward, lrnWorkspaceBytes, type LrnOptions } from "./ops/lrn.js";
export { dropout, dropoutBackward, type DropoutOptions } from "./ops/dropout.js";
export { concat, concatBackward } from "./ops/concat.js";
export {
  rnn,
  gru,
  lstm,
  recurrentBackward,
  rnnBackward,
  gruBackward,
  lstmBackward,
  embedding,
  embeddingBackward,
  type RecurrentOptions,
  type RecurrentResult,
  type RecurrentSaved,
  type RecurrentGrads,
  type RecurrentGeometry,
  type RecurrentCell,
  type RecurrentDirection,
} from "./ops/rnn.js";

// Training: losses, optimizers, schedules, the training loop
export {
  mseLoss,
  mseLossBackward,
  multiclassHingeLoss,
  multiclassHingeLossBackward,
  binaryCrossEntropy,
  binaryCrossEntropyBackward,
  type HingeOptions,
} from "./train/losses.js";
export {
  SGD,
  Adam,
  StatefulOptimizer,
  zeroGrads,
  type Optimizer,
  type Param,
  type SGDOptions,
  type AdamOptions,
  type AdamState,
  clipGradNorm,
  clipGradValue,
  gradNorm,
  type ClipOptions,
} from "./train/optimizers.js";
export { stepDecay, cosineDecay, type Schedule, type StepDecayOptions, type CosineDecayOptions } from "./train/schedules.js";
export {
  fit,
  fitAsync,
  evaluate,
  evaluateAsync,
  predict,
  predictAsync,
  type FitOptions,
  type EvaluateOptions,
  type DataOptions,
  type LossName,
  type MetricName,
  type Metric,
  type BatchInfo,
  type EpochInfo,
  type EvaluationSummary,
  type Evaluation,
  type FitCallback,
  type FitControl,
} from "./train/fit.js";
export { earlyStopping, checkpoint, type EarlyStoppingOptions, type CheckpointOptions } from "./train/callbacks.js";
export type { ArrayData, DataBatch, BatchStream, TrainingData, Augmentation } from "./train/data.js";
export { transferModel, freezeUntil, type TransferOptions } from "./train/transfer.js";
export {
  fitLanguageModel,
  evaluateLanguageModel,
  generatorModel,
  sampleIds,
  type LanguageFitOptions,
  type LanguageStepInfo,
  type LanguageEpochInfo,
  type SampleOptions,
} from "./train/language.js";

// Data and files
export {
  encodeSafetensors,
  decodeSafetensors,
  loadInto,
  type TensorData,
  type DecodedTensor,
  type DecodedSafetensors,
  type LoadIntoOptions,
} from "./io/safetensors.js";
export { parseIdx, encodeIdx, loadIdxFile, readBytes, type IdxData, type IdxType, type IdxArray } from "./data/idx.js";
export {
  loadMnistLike,
  loadEmbedded,
  MNIST_FILES,
  FASHION_MNIST_CLASSES,
  type LabeledImages,
  type MnistLike,
} from "./data/mnist.js";
export {
  decodeImage,
  resizeImage,
  loadImageFolder,
  type ImageBytes,
  type ImageFolderOptions,
  type ImageFolder,
} from "./data/images.js";
export {
  batches,
  batchCount,
  toFloatImages,
  shuffledIndices,
  seededRandom,
  FASHION_MNIST_STATS,
  type Batch,
  type BatchOptions,
  type Normalization,
} from "./data/batches.js";
export { CharVocabulary, loadText, loadEmbeddedText } from "./data/text.js";

// Models: layer specs as data, the planned Model, summaries, the zoo, weights
export {
  isSequential,
  sequentialToGraph,
  type ActivationName,
  type InitKind,
  type LayerCommon,
  type PadSpec,
  type ConvSpec,
  type ConvTransposeSpec,
  type PoolSpec,
  type GlobalPoolSpec,
  type DenseSpec,
  type ActivationSpec,
  type BatchNormSpec,
  type LrnSpec,
  type DropoutSpec,
  type FlattenSpec,
  type AddSpec,
  type ConcatSpec,
  type LayerSpec,
  type AnyLayerSpec,
  type NodeSpec,
  type AnyNodeSpec,
  type GraphSpec,
  type SequentialSpec,
  type ModelSpec,
} from "./model/spec.js";
export type { LayerPlan } from "./model/layers.js";
export {
  Model,
  createModel,
  type ModelOptions,
  type ForwardOptions,
  type BackwardOptions,
  type ParamEntry,
  type ParamSelector,
  type ParamValues,
  type ModelInput,
} from "./model/model.js";
export { summary, type ModelSummary, type SummaryRow } from "./model/summary.js";
export {
  lenet5,
  alexnet,
  vgg16,
  googlenet,
  resnet18,
  resnet50,
  segnet,
  inceptionModule,
  residualBlock,
  GOOGLENET_MODULES,
  type ZooOptions,
  type InceptionConfig,
} from "./model/zoo.js";
export { saveWeights, loadWeights } from "./model/weights.js";
export type { EmbeddingSpec, RecurrentSpec, TimeDenseSpec } from "./model/rnn-layers.js";
export { lstmRows, charLstm, type CharLstmOptions } from "./model/rnn-zoo.js";

// The planned ONNX runtime: sessions shaped like onnxruntime-web's (src/graph)
export {
  InferenceSession,
  OnnxTensor,
  onnxTensorType,
  type OnnxTensorType,
  type OnnxTensorArray,
  type OnnxFeedLike,
  type SessionOptions,
  type SessionIOMetadata,
} from "./graph/session.js";
export type { PlanReport } from "./graph/plan.js";
export { TrainableSession, type TrainableOptions } from "./graph/train.js";

// ONNX: run a file as it is, import it as a trainable Model, export a Model
export { importOnnx, OnnxModel, MIN_OPSET, MAX_OPSET, type OnnxFeed, type OnnxInputInfo, type OnnxTensorData } from "./onnx/model.js";
export type { HostData as OnnxHostData } from "./onnx/model.js";
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
  type FunctionProto,
  type ExternalDataRef,
  type ExternalDataReader,
  type Dim as OnnxDim,
} from "./onnx/onnx-proto.js";
export {
  importOnnxModel,
  OnnxImportedModel,
  NotConvertibleError,
  weightInputs,
  type ImportModelOptions,
  type OnnxBinding,
  type OnnxLayout,
} from "./onnx/to-model.js";
export { exportOnnx, type ExportOnnxOptions } from "./onnx/export.js";

// Seeing inside the network: images of filters, activations, gradients, codes and embeddings
export {
  blankImage,
  mapToImage,
  hwcToImage,
  upscale,
  blit,
  imageGrid,
  scatterImage,
  encodePng,
  toRgba,
  PALETTE,
  type RgbImage,
  type ColorMap,
  type GridOptions,
  type ScatterOptions,
} from "./viz/image.js";
export { truncatedModel } from "./viz/common.js";
export { filterGrid, activationGrid, firstConvLayer } from "./viz/layers.js";
export {
  saliency,
  guidedBackprop,
  classModel,
  type SaliencyResult,
  type GuidedOptions,
  type GuidedResult,
  type ClassModelOptions,
  type ClassModelResult,
} from "./viz/gradients.js";
export { computeCodes, nearestNeighbours, neighbourGrid, type Codes } from "./viz/codes.js";
export { tsne, tsneAffinities, tsneKl, type TsneOptions } from "./viz/tsne.js";
