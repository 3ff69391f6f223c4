// The kernels each convolution algorithm of the registry (src/ops/conv2d_algorithms.ts) splits
// over threads, by algorithm name. The worker protocol's list of threaded kernels
// (src/threads/protocol.ts) is built from this table, and each registry entry names its own row
// as `threadedKernels` (tests check that an algorithm's split calls use exactly these). No imports:
// the worker thread's bundle reads this file too.
export const CONV_THREADED_KERNELS = {
  "conv2d.gemm_tap": ["gemm_f32_block"],
  "conv2d.group_slices": [], // its groups' algorithms split their own calls
  "conv2d.tiny": ["gemm_f32_strided", "gemm_f32_block"],
  "conv2d.winograd": ["conv2d_winograd_f32_forward", "conv2d_winograd_f32_backward_input", "conv2d_winograd_f32_backward_filter"],
  "conv2d.im2col": ["gemm_f32_block"],
  "conv2d.stem": ["conv2d_stem_f32_forward"],
  "conv2d.small": ["conv2d_small_f32_forward", "conv2d_small_f32_backward_input", "conv2d_small_f32_backward_filter"],
  "conv2d.blocked": ["conv2d_blocked_f32_forward"],
  "conv2d.direct_few": ["conv2d_f32_backward_filter_few"],
  "conv2d.depthwise": ["conv2d_f32_forward", "conv2d_f32_backward_input", "conv2d_f32_backward_filter"],
  "conv2d.direct": ["conv2d_f32_forward", "conv2d_f32_backward_input", "conv2d_f32_backward_filter"],
} as const;

/** A registry entry's name. */
export type ConvAlgorithmName = keyof typeof CONV_THREADED_KERNELS;

/** A kernel some convolution algorithm splits over threads. */
export type ConvThreadedKernel = (typeof CONV_THREADED_KERNELS)[ConvAlgorithmName][number];
