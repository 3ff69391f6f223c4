// simdnet: convolutional neural networks on WebAssembly SIMD, forward and backward.
// Tensors are float32 NHWC; conv weights [KH, KW, Cin/groups, Cout]. See README.md.
export { init, Engine, type InitOptions } from "./engine.js";
export { Tensor, type Shape, type DType } from "./tensor.js";
export { SimdnetError, OutOfMemoryError } from "./errors.js";
export { type BuildName, BUILDS, detectBuild } from "./runtime.js";
export * from "./ops/elementwise.js";
export * from "./ops/conv2d.js";
export * from "./ops/dense.js";
export * from "./ops/pool.js";
export * from "./ops/activation.js";
export * from "./ops/softmax.js";
export * from "./ops/batchnorm.js";
export * from "./ops/lrn.js";
export * from "./ops/dropout.js";
export * from "./ops/concat.js";
export * from "./train/losses.js";
export * from "./train/optimizers.js";
export * from "./train/schedules.js";
export * from "./io/safetensors.js";
export * from "./data/idx.js";
export * from "./data/mnist.js";
export * from "./data/batches.js";
export * from "./onnx/index.js";
export * from "./model/index.js";
export * from "./train/fit.js";
export * from "./viz/index.js";
