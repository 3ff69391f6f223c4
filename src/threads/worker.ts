// The body of a simdnet worker thread. scripts/build.mjs bundles this file into a string
// (build/worker-inline.js) that the pool runs as a module worker: Node `worker_threads` from a data:
// URL, or a Web Worker from a blob URL: the package stays one file. The pool prepends a line defining
// `__simdnetPort` (Node: parentPort; browser: an adapter over `self`).
// Protocol: src/threads/protocol.ts. After instantiating the module it is sent (the calling
// thread's threads build: "threads" or "relaxed-threads") over the shared memory, the worker
// waits for each call (polling for SPIN_MS, then in Atomics.wait) and never returns to its event
// loop.
// If that loop ends other than by STOP (its JS threw outside a kernel call), it marks its slot
// DEAD in the control block before the error ends the thread.
import {
  ARGS,
  DEAD,
  DONE,
  FAILED,
  KERNEL,
  NARGS,
  OK,
  PART_WORDS,
  PARTS_AT,
  QKERNEL,
  SCRATCH,
  SEQ,
  SLOT,
  spinUntil,
  STATE,
  STATUS,
  STOP,
  takePart,
  TEST_CRASH,
  TEST_SLEEP,
  TEST_WAKE_DELAY,
  THREADED_KERNELS,
  type WorkerInit,
} from "./protocol.js";

interface Port {
  on(event: "message", listener: (data: unknown) => void): void;
  postMessage(message: unknown): void;
}
declare const __simdnetPort: Port;

type KernelFn = (...args: number[]) => void;

__simdnetPort.on("message", (data) => {
  const init = data as WorkerInit;
  let kernels: KernelFn[];
  let setStripScratch: KernelFn;
  try {
    // Instantiating re-runs the module's active data segments: constant tables below heap_base,
    // rewritten with the bytes they already hold. The kernels keep no mutable static data (the
    // one mutable global, the GEMM strip scratch's address, is per instance: see SCRATCH).
    const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
    const exports = instance.exports as unknown as Record<string, KernelFn>;
    kernels = THREADED_KERNELS.map((name) => exports[name]!);
    setStripScratch = exports.gemm_set_strip_scratch!;
  } catch (err) {
    __simdnetPort.postMessage({ error: String((err as Error)?.message ?? err) });
    return;
  }
  __simdnetPort.postMessage({ ready: true });
  const ctrl = new Int32Array(init.control);
  const queue = new Int32Array(init.queue);
  const base = init.slot * SLOT;
  let seen = 0;
  let stopped = false;
  let scratch = 0; // the strip scratch this instance has been given
  try {
    for (;;) {
      // the next call: polled for a while, then slept for
      if (!spinUntil(() => Atomics.load(ctrl, base + SEQ) !== seen)) Atomics.wait(ctrl, base + SEQ, seen);
      const seq = Atomics.load(ctrl, base + SEQ);
      if (seq === seen) continue;
      seen = seq;
      const kernel = ctrl[base + KERNEL]!;
      if (kernel === STOP) break;
      const args: number[] = [];
      for (let i = 0; i < ctrl[base + NARGS]!; i++) args.push(ctrl[base + ARGS + i]!);
      if (kernel === TEST_SLEEP || kernel === TEST_CRASH) {
        // test hooks (see protocol.ts): a busy worker, or one whose JS throws outside a kernel call;
        // acknowledged first, so the pool's next call cannot overwrite the command unread
        Atomics.store(ctrl, base + DONE, seq);
        Atomics.notify(ctrl, base + DONE);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, args[0]!);
        if (kernel === TEST_CRASH) throw new Error("simdnet worker test hook: crash");
        continue;
      }
      // otherwise RUN_QUEUE: this call's parts wait in the queue
      let status = OK;
      try {
        const given = Atomics.load(ctrl, base + SCRATCH);
        if (given !== scratch) {
          setStripScratch(given);
          scratch = given;
        }
        const delay = Atomics.load(queue, TEST_WAKE_DELAY);
        if (delay > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delay);
        runQueue(kernels, queue);
      } catch {
        status = FAILED;
      }
      ctrl[base + STATUS] = status;
      Atomics.store(ctrl, base + DONE, seq);
      Atomics.notify(ctrl, base + DONE);
    }
    stopped = true;
  } finally {
    // Leaving the loop other than by STOP: say so, and wake a caller waiting for this slot. (A
    // terminated worker runs no finally: the pool learns that from its exit event or deadline.)
    if (!stopped) {
      Atomics.store(ctrl, base + STATE, DEAD);
      Atomics.notify(ctrl, base + DONE);
    }
  }
  Atomics.store(ctrl, base + DONE, seen);
  Atomics.notify(ctrl, base + DONE);
  if (typeof close === "function") close();
});

/** Takes parts from the queue (see protocol.ts) and runs them until none is left. */
function runQueue(kernels: KernelFn[], queue: Int32Array): void {
  const kernel = kernels[queue[QKERNEL]!]!;
  for (;;) {
    const p = takePart(queue, true);
    if (p < 0) return;
    const at = PARTS_AT + p * PART_WORDS,
      args: number[] = [];
    for (let i = 0; i < queue[at]!; i++) args.push(queue[at + 1 + i]!);
    kernel(...args);
  }
}
