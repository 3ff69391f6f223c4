// The kernel library: every export is a kernel the host calls with pointers into this
// module's linear memory. Kernels never allocate; the host owns every byte from heap_base() up.
// Naming grammar: <op>_f32_<pass>, pass in forward | backward | backward_input | backward_filter |
// backward_bias | inference | training. One file per op family; each exports its kernels here.

/** First byte the host may use; everything below is static data and the (unused) stack. */
export function heap_base(): usize {
  return __heap_base;
}

export * from "./elementwise";
export * from "./conv2d";
export * from "./gemm";
export * from "./gemm_packed";
export * from "./pool";
export * from "./activation";
export * from "./softmax";
export * from "./batchnorm";
export * from "./lrn";
export * from "./dropout";
export { fill_normal_f32 } from "./random";
export * from "./concat";
export * from "./optim";
export * from "./loss";
export * from "./conv2d_small";
export * from "./conv2d_blocked";
export * from "./conv2d_winograd";
export * from "./conv2d_stem";
export * from "./conv2d_im2col";
export * from "./nd";
export * from "./scan";
export * from "./gridsample";
export * from "./rnn";
export * from "./remap";
export * from "./resize";
export * from "./gather";
export * from "./broadcast";
export * from "./unary";
export * from "./reduce";
export * from "./norm";
export * from "./quant";
export * from "./roialign";
