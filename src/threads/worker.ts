// The body of a simdnet worker thread. scripts/build.mjs bundles this file into a string
// (build/worker-inline.js) that the pool runs as a module worker: Node `worker_threads` from a data:
// URL, or a Web Worker from a blob URL: the package stays one file. The pool prepends a line defining
// `__simdnetPort` (Node: parentPort; browser: an adapter over `self`).
// Protocol: src/threads/protocol.ts. After instantiating the threads build over the shared
// memory, the worker blocks in Atomics.wait between calls and never returns to its event loop.
import { ARGS, DONE, KERNEL, NARGS, OK, FAILED, SEQ, SLOT, STATUS, STOP, THREADED_KERNELS, type WorkerInit } from "./protocol.js";

interface Port {
  on(event: "message", listener: (data: unknown) => void): void;
  postMessage(message: unknown): void;
}
declare const __simdnetPort: Port;

type KernelFn = (...args: number[]) => void;

__simdnetPort.on("message", (data) => {
  const init = data as WorkerInit;
  let kernels: KernelFn[];
  try {
    // Instantiating re-runs the module's active data segments: constant tables below heap_base,
    // rewritten with the bytes they already hold. The kernels keep no mutable static data.
    const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
    const exports = instance.exports as unknown as Record<string, KernelFn>;
    kernels = THREADED_KERNELS.map((name) => exports[name]!);
  } catch (err) {
    __simdnetPort.postMessage({ error: String((err as Error)?.message ?? err) });
    return;
  }
  __simdnetPort.postMessage({ ready: true });
  const ctrl = new Int32Array(init.control);
  const base = init.slot * SLOT;
  let seen = 0;
  for (;;) {
    Atomics.wait(ctrl, base + SEQ, seen);
    const seq = Atomics.load(ctrl, base + SEQ);
    if (seq === seen) continue;
    seen = seq;
    const kernel = ctrl[base + KERNEL]!;
    if (kernel === STOP) break;
    const args: number[] = [];
    for (let i = 0; i < ctrl[base + NARGS]!; i++) args.push(ctrl[base + ARGS + i]!);
    let status = OK;
    try {
      kernels[kernel]!(...args);
    } catch {
      status = FAILED;
    }
    ctrl[base + STATUS] = status;
    Atomics.store(ctrl, base + DONE, seq);
    Atomics.notify(ctrl, base + DONE);
  }
  Atomics.store(ctrl, base + DONE, seen);
  Atomics.notify(ctrl, base + DONE);
  if (typeof close === "function") close();
});
