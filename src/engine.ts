import { simd, threads as wasmThreads } from "wasm-feature-detect";
import { checkInt, fail, fmtShape, fmtValue, SimdnetError } from "./errors.js";
import { checkOptions, checkShapeArg } from "./ops/common.js";
import { DEFAULT_MEMORY_LIMIT, Heap } from "./memory.js";
import {
  type BuildName,
  compileBuild,
  detectBuild,
  detectThreadsBuild,
  instantiateBuild,
  isThreadsBuild,
  type Kernels,
  sharedMemory,
  sharedMemoryMaxBytes,
} from "./runtime.js";
import { type DType, type Shape, sizeOf, Tensor } from "./tensor.js";
import { DEFAULT_THREAD_TIMEOUT_MS, ThreadPool, threadsUnavailableReason } from "./threads/pool.js";
import { MAX_PARTS, type ThreadedKernel } from "./threads/protocol.js";

/** Options of `init()`: which wasm build, and how many threads. */
export interface InitOptions {
  /**
   * Which wasm build to run: "auto" (default) picks relaxed, SIMD or scalar by feature detection;
   * when `threads` > 1 can be honoured, "relaxed-threads" where relaxed SIMD runs, else "threads".
   * With `threads` > 1 an explicit build must be "threads" or "relaxed-threads".
   */
  build?: "auto" | BuildName;
  /**
   * Threads for conv2d, gemm, pooling forwards and optimizer updates (default 1). With n > 1 the engine runs a threads build (SIMD;
   * relaxed-threads where relaxed SIMD runs) over a shared memory and starts n - 1 workers; where that is impossible (no
   * SharedArrayBuffer, no cross-origin isolation, a browser main thread) it runs one thread and
   * says why in `engine.threadsReason`.
   *
   * A worker thread that dies (terminated from outside, an error in its JS, out of memory) or does
   * not finish its part of a call within `threadTimeoutMs` makes that call throw a SimdnetError
   * naming the worker and the kernel (never a hang); the engine then terminates its workers and
   * runs every later call on one thread, with `engine.threads` 1 and `engine.threadsReason` saying
   * why. See `threadTimeoutMs` for what a late worker may still write.
   */
  threads?: number;
  /**
   * How long (ms) the calling thread waits for the workers to finish their parts of one kernel
   * call after finishing its own part (default 60000; Infinity waits as long as the workers live).
   * A worker that dies ends the wait at once: in Node a supervisor thread sees its exit event
   * (terminated, out of memory, crashed) while the caller waits, also with Infinity; a worker whose
   * JS throws marks itself dead. This deadline catches a worker that is far too slow, and one that
   * dies where nothing reports it (a terminated Web Worker in browsers, Deno and Bun).
   * Residual risk after a timeout: worker.terminate() takes effect asynchronously, so a worker that
   * was alive but late may still store part of that failed call's output (at most until its next
   * loop iteration once it gets a CPU). The engine keeps every buffer live at the failure from being
   * reused after its release until the workers have exited (Node reports that; in browsers, Deno
   * and Bun it never can, so those bytes stay unused), but a buffer you keep and write again (the
   * failed call's output, a Model's preallocated activations) may still receive such a late store.
   */
  threadTimeoutMs?: number;
  /**
   * The most bytes of wasm linear memory the engine may use (default 2 GiB, DEFAULT_MEMORY_LIMIT;
   * at most 4 GiB; a threads build's shared memory stops at 2 GiB - 64 KiB, or at the limit when
   * it is lower, as a shared memory reserves its maximum up front). Any tensor, model plan,
   * workspace or ONNX host-side buffer that cannot fit under it is refused with an
   * OutOfMemoryError before anything is allocated or computed (e.g. an ONNX Resize whose scales
   * would make a 22 GB output). `engine.memoryLimit` reports the limit in force.
   */
  memoryLimit?: number;
}

/** Bytes of the engine's kernel-parameter block (e.g. conv geometry: 16 i32). */
export const PARAM_BLOCK_BYTES = 256;

/**
 * One wasm instance: its kernels, its linear memory and the heap that owns every byte of it.
 * Tensors belong to the engine that made them; ops check that all operands share one.
 * Made by `init()`.
 */
export class Engine {
  /** @internal The allocator of the engine's linear memory. */
  readonly heap: Heap;
  /**
   * @internal
   * Address of a small block that op wrappers fill with a kernel's parameters right before the
   * call (instead of long positional argument lists). Allocated once with the engine; never freed.
   * It is `paramBlocks[0]`, the calling thread's.
   */
  readonly paramBlock: number;
  /**
   * @internal
   * Kernel-parameter blocks, one per part of a threaded call (part p reads paramBlockFor(p)): with
   * a worker pool, MAX_PARTS (the most parts a call may have) from the start, so no call allocates one.
   */
  get paramBlocks(): readonly number[] {
    return this.blocks;
  }
  private readonly blocks: number[];
  /**
   * Multiply-adds (for optimizer updates and zeroGrads: elements) below which an op runs on one
   * thread even when the engine has more (a worker round trip costs tens of microseconds). 0
   * threads every call that can be split.
   */
  minParallelWork = 1 << 18;
  private readonly scopes: Tensor[][] = [];
  private pool: ThreadPool | undefined;
  private reason: string;

  /** @internal Use init(). */
  constructor(
    /** The wasm build this engine runs. */
    readonly build: BuildName,
    /** @internal The wasm exports (build/kernels.d.ts). */
    readonly kernels: Kernels,
    pool?: ThreadPool,
    threadsReason = "",
    memoryLimit = DEFAULT_MEMORY_LIMIT,
  ) {
    // a threads build's shared memory has a declared maximum (asconfig.json), named in out-of-memory errors
    this.heap = new Heap(kernels.memory, kernels.heap_base(), isThreadsBuild(build) ? sharedMemoryMaxBytes(kernels.memory) : undefined, memoryLimit);
    this.pool = pool;
    this.reason = threadsReason;
    const count = pool ? MAX_PARTS : 1;
    const first = this.heap.alloc(count * PARAM_BLOCK_BYTES, "the kernel parameter blocks");
    this.blocks = Array.from({ length: count }, (_, t) => first + t * PARAM_BLOCK_BYTES);
    this.paramBlock = this.blocks[0]!;
    // the GEMM's strip scratch, one per wasm instance (assembly/gemm.ts, gemm_set_strip_scratch;
    // none in the scalar build)
    const scratchBytes = kernels.gemm_strip_scratch_bytes();
    if (scratchBytes > 0) {
      const stripScratch = () => this.heap.alloc(scratchBytes, "the GEMM strip scratch");
      kernels.gemm_set_strip_scratch(stripScratch());
      pool?.setStripScratch(stripScratch);
    }
  }

  /**
   * Threads kernel calls may use: the calling thread plus live workers (1 after dispose, and after
   * a worker failure stopped the pool).
   */
  get threads(): number {
    return this.pool ? this.pool.workerCount + 1 : 1;
  }

  /**
   * Why the engine runs fewer threads than `init` asked for ("" if it runs them all): threads
   * unavailable here, or a worker that died or timed out (see InitOptions.threads).
   */
  get threadsReason(): string {
    return this.reason;
  }

  /** @internal The kernel-parameter block of part p of a threaded call (allocated on first use, kept for the engine's life). */
  paramBlockFor(p: number): number {
    while (this.blocks.length <= p) this.blocks.push(this.heap.alloc(PARAM_BLOCK_BYTES, "a kernel parameter block"));
    return this.blocks[p]!;
  }

  /** The most bytes of linear memory this engine uses (InitOptions.memoryLimit, capped by the build's maximum). */
  get memoryLimit(): number {
    return this.heap.limit;
  }

  /** @internal Test hook (tests/threads.test.ts): the worker pool, while the engine has one. */
  get threadPool(): ThreadPool | undefined {
    return this.pool;
  }

  /**
   * @internal
   * Runs one call of `kernel` per entry of `parts` (at most MAX_PARTS, 64), spread over the calling
   * thread and the workers (each takes the next part when it is free). The parts must write
   * disjoint memory. If a worker died or timed out, throws a SimdnetError and drops the pool:
   * later calls run on one thread.
   */
  parallel(kernel: ThreadedKernel, parts: number[][]): void {
    const local = this.kernels[kernel] as (...args: number[]) => void;
    const pool = this.pool;
    if (parts.length === 1 || !pool) {
      for (const args of parts) local(...args);
      return;
    }
    try {
      pool.run(kernel, parts, local);
    } catch (err) {
      const failure = pool.failure;
      if (!failure) throw err; // a trap in a part: the pool keeps working
      this.pool = undefined;
      this.reason = `1 thread: the worker pool stopped after a failure: ${failure.message}`;
      if (failure.straggler) {
        // a late worker may still store into memory of this call until its thread has ended
        this.heap.quarantine();
        void pool.exited.then(() => this.heap.endQuarantine());
      }
      throw new SimdnetError(`${failure.message}; this engine runs on one thread from now on (engine.threadsReason)`, { cause: err });
    }
  }

  /** Ends the worker threads (the engine keeps working on one thread). Idempotent. */
  dispose(): void {
    this.pool?.dispose();
    this.pool = undefined;
  }

  get memory(): WebAssembly.Memory {
    return this.kernels.memory;
  }

  /** A new tensor with uninitialised contents. */
  empty(shape: Shape, dtype: DType = "f32", what = "a tensor"): Tensor {
    return this.allocTensor("Engine.empty", shape, dtype, what);
  }

  /** A new tensor of `shape` (checked: an array of integers >= 0; errors name `op`), uninitialised. */
  private allocTensor(op: string, shape: Shape, dtype: DType, what = "a tensor"): Tensor {
    checkShapeArg(op, "shape", shape, { min: 0 });
    if (dtype !== "f32" && dtype !== "i32") fail(op, `dtype must be "f32" or "i32", got ${fmtValue(dtype)}`);
    const ptr = this.heap.alloc(sizeOf(shape) * 4, `${what} of shape ${fmtShape(shape)}`);
    const t = new Tensor(this, ptr, [...shape], dtype);
    this.scopes[this.scopes.length - 1]?.push(t);
    return t;
  }

  /** A new float32 tensor holding `values` (copied) or zeros. */
  tensor(shape: Shape, values?: ArrayLike<number>): Tensor {
    const t = this.allocTensor("Engine.tensor", shape, "f32");
    return values ? this.setOrDispose(t, values) : this.fillZero(t);
  }

  zeros(shape: Shape): Tensor {
    return this.fillZero(this.allocTensor("Engine.zeros", shape, "f32"));
  }

  /** A new int32 tensor (class labels, indices). */
  ints(shape: Shape, values?: ArrayLike<number>): Tensor {
    const t = this.allocTensor("Engine.ints", shape, "i32");
    if (values) return this.setOrDispose(t, values);
    t.ints.fill(0);
    return t;
  }

  /**
   * Runs `fn` and disposes every tensor it created except those it returns (a tensor, or
   * tensors inside a returned array or plain object).
   */
  tidy<T>(fn: () => T): T {
    const scope: Tensor[] = [];
    this.scopes.push(scope);
    let result: T;
    try {
      result = fn();
    } catch (err) {
      for (const t of scope) t.dispose(); // nothing escapes a throwing scope
      throw err;
    } finally {
      this.scopes.pop();
    }
    const keep = new Set<Tensor>();
    const collect = (v: unknown) => {
      if (v instanceof Tensor) keep.add(v);
      else if (Array.isArray(v)) v.forEach(collect);
      else if (v && typeof v === "object") Object.values(v).forEach(collect);
    };
    collect(result);
    for (const t of scope) {
      if (keep.has(t)) this.scopes[this.scopes.length - 1]?.push(t);
      else t.dispose();
    }
    return result;
  }

  /** @internal called by Tensor.dispose */
  release(t: Tensor): void {
    this.heap.release(t.ptr);
  }

  /** Copies `values` in; frees the new tensor if they do not fit (wrong length). */
  private setOrDispose(t: Tensor, values: ArrayLike<number>): Tensor {
    try {
      return t.set(values);
    } catch (err) {
      t.dispose();
      throw err;
    }
  }

  private fillZero(t: Tensor): Tensor {
    this.kernels.fill_f32(t.ptr, 0, t.size);
    return t;
  }
}

/**
 * Loads a wasm build (feature-detected unless forced) and returns an engine over it. With
 * `threads` > 1 it also starts the worker pool; a worker that later dies or misses
 * `threadTimeoutMs` makes that call throw and the engine continue on one thread (InitOptions).
 */
export async function init(options: InitOptions = {}): Promise<Engine> {
  checkOptions("init", "options", options);
  const auto = !options.build || options.build === "auto";
  const threads = checkInt("init", "threads", options.threads ?? 1, 1);
  const timeoutMs = options.threadTimeoutMs ?? DEFAULT_THREAD_TIMEOUT_MS;
  if (typeof timeoutMs !== "number" || !(timeoutMs > 0)) fail("init", `threadTimeoutMs must be a number > 0 (ms), got ${fmtValue(timeoutMs)}`);
  if (threads > 256) fail("init", `threads must be at most 256, got ${threads}`);
  const memoryLimit = options.memoryLimit ?? DEFAULT_MEMORY_LIMIT;
  if (typeof memoryLimit !== "number" || !(memoryLimit >= 1 << 20 && memoryLimit <= 2 ** 32)) {
    fail("init", `memoryLimit must be a number of bytes from 1 MiB (${1 << 20}) to 4 GiB (${2 ** 32}), got ${fmtValue(memoryLimit)}`);
  }
  if (threads > 1 && !auto && !isThreadsBuild(options.build)) {
    fail("init", `threads: ${threads} needs a threads build ('threads' or 'relaxed-threads'), not '${options.build}'`);
  }
  let reason = "";
  if (threads > 1) {
    reason = threadsUnavailableReason() ?? "";
    if (!reason && !(await simd())) reason = "the threads builds need wasm SIMD, which this runtime lacks";
    if (!reason && !(await wasmThreads())) reason = "wasm threads (shared memory, atomics) are unavailable here";
    if (!reason) {
      // the workers instantiate the module of the calling thread's build
      const build: BuildName = auto ? await detectThreadsBuild() : (options.build as BuildName);
      const memory = sharedMemory(memoryLimit);
      const kernels = await instantiateBuild(build, memory);
      try {
        const pool = await ThreadPool.create(threads, await compileBuild(build), memory, timeoutMs);
        return new Engine(build, kernels, pool, "", memoryLimit);
      } catch (err) {
        reason = `worker threads failed to start: ${err instanceof SimdnetError ? err.message : String(err)}`;
      }
    }
    if (!auto) throw new SimdnetError(`init: threads: ${threads} is not possible here: ${reason}`);
  }
  const build: BuildName = auto ? await detectBuild() : (options.build as BuildName);
  return new Engine(
    build,
    await instantiateBuild(build, isThreadsBuild(build) ? sharedMemory(memoryLimit) : undefined),
    undefined,
    reason ? `1 thread: ${reason}` : "",
    memoryLimit,
  );
}

/**
 * Refuses, with an OutOfMemoryError naming `what`, a buffer of `bytes` that cannot fit in the
 * engine's memory (its memoryLimit minus what is in use), changing nothing: call it when sizing a
 * plan, a workspace or a host-side (JavaScript) buffer, before allocating or computing anything.
 */
export function checkBudget(engine: Engine, bytes: number, what: string): void {
  engine.heap.checkRoom(bytes, what);
}
