// The control block shared by the calling thread and the workers of a ThreadPool: one Int32Array
// over a SharedArrayBuffer (separate from the wasm memory, so memory.grow never moves it), one
// slot of SLOT i32 per worker. For a kernel call the caller fills the part queue (below), writes
// RUN_QUEUE into KERNEL, bumps SEQ and notifies; the worker takes parts from the queue and runs
// them on its own instance over the shared memory, writes STATUS, stores SEQ into DONE and notifies. A worker whose loop ends abnormally (its JS threw outside a
// kernel call) stores DEAD into STATE and notifies DONE first, so a caller waiting on it wakes. In
// Node a supervisor thread owns the workers and, on a worker's exit event (terminated, out of
// memory, crashed), stores EXITED into STATE and the exit code into EXIT_CODE and notifies DONE:
// the caller, blocked in Atomics.wait where no event reaches it, wakes at once.
// Kernel arguments are i32: pointers fit, as the shared memory's maximum (THREADS_MAX_PAGES) is
// below 2 GiB.
import { CONV_THREADED_KERNELS, type ConvThreadedKernel } from "../ops/conv2d_kernels.js";

/** Words per worker slot. */
export const SLOT = 32;
/**
 * Slot fields (word offsets). SCRATCH: the worker instance's GEMM strip scratch (a heap address the
 * engine allocates; the worker passes it to gemm_set_strip_scratch before its next parts).
 * EXIT_CODE: the worker thread's exit code once STATE is EXITED.
 */
export const SEQ = 0,
  DONE = 1,
  STATUS = 2,
  KERNEL = 3,
  NARGS = 4,
  STATE = 5,
  SCRATCH = 6,
  EXIT_CODE = 7,
  ARGS = 8;
/** Most arguments a threaded kernel call may take. */
export const MAX_ARGS = SLOT - ARGS;
/** KERNEL value that tells a worker to leave its loop. */
export const STOP = -1;
/** STATUS values. */
export const OK = 0,
  FAILED = 1;
/**
 * STATE values: DEAD once the worker's loop has ended abnormally (it runs no more calls); EXITED
 * once its thread has ended (set by the Node supervisor, unless DEAD came first).
 */
export const ALIVE = 0,
  DEAD = 1,
  EXITED = 2;

/**
 * Test hooks only (tests/threads.test.ts, through ThreadPool's `test*` methods), never sent by
 * the library itself: KERNEL values that make a worker sleep ARGS[0] ms (a busy worker), or
 * sleep ARGS[0] ms and then throw outside its kernel try/catch (a worker whose JS fails). The
 * worker acknowledges one (SEQ into DONE) before it sleeps.
 */
export const TEST_SLEEP = -2,
  TEST_CRASH = -3;

/**
 * The part queue (a second shared Int32Array, `WorkerInit.queue`): a call's parts, which the
 * calling thread and the workers take one at a time (Atomics.add on NEXT) until none is left, so
 * a thread slowed by other work takes fewer parts instead of holding the call up. The calling
 * thread takes parts from the front, the workers from the back (takePart): with two threads each
 * keeps to its end of the data from one call to the next (a layer's rows, then the next layer's),
 * which then stays in its own core's cache. Words: NEXT (parts taken: from the front in its low 16
 * bits, from the back in its high 16), COUNT (parts), QKERNEL (kernel index), then PART_WORDS
 * words per part from PARTS_AT: its argument count and up to MAX_ARGS arguments. At most
 * MAX_PARTS parts a call.
 */
export const NEXT = 0,
  COUNT = 1,
  QKERNEL = 2,
  /** Test hook (tests/threads.test.ts): ms each worker sleeps after waking for a call, before it takes parts. */
  TEST_WAKE_DELAY = 3,
  PARTS_AT = 4;
export const MAX_PARTS = 64;
/** Words per queued part: its argument count, then its arguments. */
export const PART_WORDS = MAX_ARGS + 1;
export const QUEUE_WORDS = PARTS_AT + MAX_PARTS * PART_WORDS;
/**
 * Takes the next part of the queue's call, from the front (the calling thread) or the back (a
 * worker): its index, or -1 when every part is taken. Each Atomics.add counts one taker at its
 * end, and a taker whose count leaves no part untaken stops: every part is taken exactly once.
 */
export function takePart(queue: Int32Array, fromBack: boolean): number {
  const taken = Atomics.add(queue, NEXT, fromBack ? 1 << 16 : 1),
    front = taken & 0xffff,
    back = taken >>> 16,
    count = queue[COUNT]!;
  if (front + back >= count) return -1;
  return fromBack ? count - 1 - back : front;
}

/** KERNEL value that tells a worker to take parts from the queue. */
export const RUN_QUEUE = -4;

/**
 * How long a thread polls a control word before it sleeps in Atomics.wait (milliseconds). Waking a
 * sleeping thread (a futex wake plus an interrupt to an idle vCPU on a virtual machine) costs a
 * noticeable share of the smallest calls worth splitting. So the calling thread polls for its workers'
 * last parts, and a worker polls for the next call after finishing one: calls that follow each
 * other (a training step) then start on every thread at once. A worker idle longer than this sleeps.
 */
export const SPIN_MS = 1;

/**
 * Polls `done` for up to SPIN_MS; returns whether it came true (else the caller sleeps in
 * Atomics.wait). Reads the clock only every 64 polls: that costs more than a poll.
 */
export function spinUntil(done: () => boolean): boolean {
  const end = performance.now() + SPIN_MS;
  for (let i = 1; !done(); i++) {
    if ((i & 63) === 0 && performance.now() > end) return false;
  }
  return true;
}

/**
 * Maximum pages of the threads builds' shared memory (2 GiB - 64 KiB, every address below 2^31):
 * must match asconfig.json's threads and relaxed-threads targets (tests/threads.test.ts checks). An engine's shared memory declares at most this many,
 * fewer when its memoryLimit is lower or the runtime cannot reserve that much (see sharedMemory).
 */
export const THREADS_MAX_PAGES = 32767;

/** The threaded kernels of the ops outside the convolution registry. */
const OTHER_THREADED_KERNELS = [
  "relu_f32_forward",
  "bias_f32_forward",
  "maxpool2d_f32_forward",
  "maxpool2x2_f32_forward",
  "maxpool2x2_f32_inference",
  "avgpool2d_f32_forward",
  "globalavgpool_f32_forward",
  "gemm_f32_block",
  "gemm_f32_packed_b",
  "sgd_f32_update_bits",
  "sgd_momentum_f32_update_bits",
  "adam_f32_update_bits",
  "fill_f32_bits",
] as const;

/** A kernel a worker can run. */
export type ThreadedKernel = ConvThreadedKernel | (typeof OTHER_THREADED_KERNELS)[number];

/**
 * Kernels a worker can run, by index (the KERNEL field): every convolution algorithm's
 * (CONV_THREADED_KERNELS, in registry order), then the other ops', each once.
 */
export const THREADED_KERNELS: readonly ThreadedKernel[] = [
  ...new Set<ThreadedKernel>([...Object.values(CONV_THREADED_KERNELS).flat(), ...OTHER_THREADED_KERNELS]),
];

/** The first message a worker gets. */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  /** The part queue (QUEUE_WORDS i32). */
  queue: SharedArrayBuffer;
  slot: number;
}
