// A pool of worker threads that run partitions of one kernel call over the engine's shared memory.
// The calling thread runs partition 0 itself, then blocks in Atomics.wait until every worker has
// finished, so a threaded op is as synchronous as a single-threaded one.
import { SimdnetError } from "../errors.js";
import * as inline from "../../build/worker-inline.js";
import { ARGS, DONE, FAILED, KERNEL, MAX_ARGS, NARGS, SEQ, SLOT, STATUS, STOP, THREADED_KERNELS, type ThreadedKernel, type WorkerInit } from "./protocol.js";

/** What each environment's worker handle must offer. */
interface WorkerHandle {
  post(message: WorkerInit): void;
  /** Lets the process exit while the worker idles (Node); called once the worker is ready. */
  unref(): void;
  terminate(): void;
}

/** Why this environment cannot run a pool, or undefined if it can (checked synchronously). */
export function threadsUnavailableReason(): string | undefined {
  if (typeof SharedArrayBuffer !== "function" || typeof Atomics !== "object") {
    const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
    return isolated === false
      ? "SharedArrayBuffer is unavailable: the page is not cross-origin isolated (serve it with COOP: same-origin and COEP: require-corp)"
      : "SharedArrayBuffer / Atomics are unavailable in this runtime";
  }
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch (err) {
    return `shared wasm memory is unavailable: ${(err as Error).message}`;
  }
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 0);
  } catch {
    return "Atomics.wait is not allowed on this thread (a browser main thread): run simdnet in a Web Worker to use threads";
  }
  return undefined;
}

/**
 * Spawns one worker running the inlined worker source: a module Worker from a blob URL where the
 * Web Worker API exists (browsers, Deno, Bun), else a Node `worker_threads` module worker from a data: URL.
 */
async function spawn(onMessage: (data: { ready?: boolean; error?: string }) => void, onError: (err: unknown) => void): Promise<WorkerHandle> {
  // Node has no Web Worker API of its own, but a library loaded beside simdnet may install a
  // global Worker shim (seen with peers in the bench), whose blob: URLs worker_threads rejects:
  // so Node always takes worker_threads. Deno, Bun and browsers take the Web Worker API.
  const g = globalThis as { Worker?: unknown; Bun?: unknown; Deno?: unknown; process?: { versions?: { node?: string } } };
  const isNode = !!g.process?.versions?.node && g.Bun === undefined && g.Deno === undefined;
  if (!isNode && typeof g.Worker === "function") {
    const prefix =
      "const __simdnetPort = { on: (_e, f) => self.addEventListener('message', (ev) => f(ev.data)), postMessage: (m) => self.postMessage(m) };\n";
    const url = URL.createObjectURL(new Blob([prefix + inline.workerSource], { type: "text/javascript" }));
    const worker = new Worker(url, { type: "module", name: "simdnet" });
    worker.onmessage = (ev) => onMessage(ev.data);
    worker.onerror = (ev) => onError(ev.message ?? ev);
    return {
      post: (m) => worker.postMessage(m),
      unref: () => {},
      terminate: () => {
        worker.terminate();
        URL.revokeObjectURL(url);
      },
    };
  }
  const { Worker: NodeWorker } = await import("node:worker_threads");
  // an ES module from a data: URL: independent of the caller's module type and of --input-type
  const source = "import { parentPort as __simdnetPort } from 'node:worker_threads';\n" + inline.workerSource;
  const worker = new NodeWorker(new URL(`data:text/javascript,${encodeURIComponent(source)}`), { name: "simdnet" });
  worker.on("message", onMessage);
  worker.on("error", onError);
  return { post: (m) => worker.postMessage(m), unref: () => worker.unref(), terminate: () => void worker.terminate() };
}

/**
 * n-1 workers (the calling thread is the n-th), each with its own instance of the threads build
 * over `memory`. `run` is synchronous; `dispose` ends the workers.
 */
export class ThreadPool {
  private readonly ctrl: Int32Array;
  private workers: WorkerHandle[] = [];
  private seq = 0;

  private constructor(readonly size: number) {
    this.ctrl = new Int32Array(new SharedArrayBuffer(Math.max(1, size - 1) * SLOT * 4));
  }

  /** Starts `threads - 1` workers and waits until each has instantiated the module. */
  static async create(threads: number, module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<ThreadPool> {
    const pool = new ThreadPool(threads);
    try {
      await Promise.all(
        Array.from({ length: threads - 1 }, async (_, slot) => {
          let settle!: { resolve: () => void; reject: (e: Error) => void };
          const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
          const handle = await spawn(
            (m) => (m.ready ? settle.resolve() : settle.reject(new SimdnetError(`simdnet worker ${slot + 1} failed to start: ${m.error}`))),
            (err) => settle.reject(new SimdnetError(`simdnet worker ${slot + 1} failed: ${String((err as Error)?.message ?? err)}`)),
          );
          pool.workers.push(handle);
          handle.post({ module, memory, control: pool.ctrl.buffer as SharedArrayBuffer, slot });
          await ready;
          handle.unref(); // an idle pool never keeps the process alive
        }),
      );
    } catch (err) {
      pool.dispose();
      throw err;
    }
    return pool;
  }

  /** Live workers (0 after dispose). */
  get workerCount(): number {
    return this.workers.length;
  }

  /**
   * Runs `kernel` once per entry of `parts` (at most `size` entries): parts[0] on the calling
   * thread through `local`, the others on the workers; returns when all are done.
   */
  run(kernel: ThreadedKernel, parts: number[][], local: (...args: number[]) => void): void {
    if (parts.length > this.workers.length + 1) throw new SimdnetError(`threads: ${parts.length} parts for ${this.workers.length + 1} threads`);
    const id = THREADED_KERNELS.indexOf(kernel);
    const seq = ++this.seq;
    const ctrl = this.ctrl;
    for (let p = 1; p < parts.length; p++) {
      const base = (p - 1) * SLOT, args = parts[p]!;
      if (args.length > MAX_ARGS) throw new SimdnetError(`threads: ${kernel} takes at most ${MAX_ARGS} arguments`);
      ctrl[base + KERNEL] = id;
      ctrl[base + NARGS] = args.length;
      for (let i = 0; i < args.length; i++) ctrl[base + ARGS + i] = args[i]!;
      Atomics.store(ctrl, base + SEQ, seq);
      Atomics.notify(ctrl, base + SEQ);
    }
    let localError: unknown;
    try {
      local(...parts[0]!);
    } catch (err) {
      localError = err;
    }
    let failed = 0;
    for (let p = 1; p < parts.length; p++) {
      const base = (p - 1) * SLOT;
      for (;;) {
        const done = Atomics.load(ctrl, base + DONE);
        if (done === seq) break;
        Atomics.wait(ctrl, base + DONE, done);
      }
      if (ctrl[base + STATUS] === FAILED) failed++;
    }
    if (localError) throw localError;
    if (failed) throw new SimdnetError(`${kernel}: ${failed} worker thread(s) trapped`);
  }

  /** Stops and terminates every worker. Idempotent. */
  dispose(): void {
    const seq = ++this.seq;
    for (let p = 0; p < this.workers.length; p++) {
      const base = p * SLOT;
      this.ctrl[base + KERNEL] = STOP;
      Atomics.store(this.ctrl, base + SEQ, seq);
      Atomics.notify(this.ctrl, base + SEQ);
    }
    for (const w of this.workers) w.terminate();
    this.workers = [];
  }
}
