// The control block shared by the calling thread and the workers of a ThreadPool: one Int32Array
// over a SharedArrayBuffer (separate from the wasm memory, so memory.grow never moves it), one
// slot of SLOT i32 per worker. The caller writes a kernel index and its arguments, bumps SEQ and
// notifies; the worker runs the call on its own instance over the shared memory, writes STATUS,
// stores SEQ into DONE and notifies. A worker whose loop ends abnormally (its JS threw outside a
// kernel call) stores DEAD into STATE and notifies DONE first, so a caller waiting on it wakes.
// Kernel arguments are i32: pointers fit, as the shared memory's maximum (THREADS_MAX_PAGES) is
// below 2 GiB.

/** Words per worker slot. */
export const SLOT = 32;
/** Slot fields (word offsets). */
export const SEQ = 0, DONE = 1, STATUS = 2, KERNEL = 3, NARGS = 4, STATE = 5, ARGS = 8;
/** Most arguments a threaded kernel call may take. */
export const MAX_ARGS = SLOT - ARGS;
/** KERNEL value that tells a worker to leave its loop. */
export const STOP = -1;
/** STATUS values. */
export const OK = 0, FAILED = 1;
/** STATE values: DEAD once the worker's loop has ended abnormally (it runs no more calls). */
export const ALIVE = 0, DEAD = 1;

/**
 * Test hooks only (tests/threads.test.ts, through ThreadPool's `test*` methods), never sent by
 * the library itself: KERNEL values that make a worker sleep ARGS[0] ms (a busy worker), or
 * sleep ARGS[0] ms and then throw outside its kernel try/catch (a worker whose JS fails). The
 * worker acknowledges one (SEQ into DONE) before it sleeps.
 */
export const TEST_SLEEP = -2, TEST_CRASH = -3;

/** Maximum pages of the threads build's shared memory: must match asconfig.json's threads target. */
export const THREADS_MAX_PAGES = 16384; // 1 GiB

/** Kernels a worker can run, by index (the KERNEL field). */
export const THREADED_KERNELS = [
  "conv2d_f32_forward",
  "conv2d_f32_backward_input",
  "conv2d_f32_backward_filter",
  "gemm_f32_block",
  "conv2d_winograd_f32_forward",
  "conv2d_winograd_f32_backward_input",
  "conv2d_winograd_f32_backward_filter",
] as const;
export type ThreadedKernel = (typeof THREADED_KERNELS)[number];

/** The first message a worker gets. */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  slot: number;
}
