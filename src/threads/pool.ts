// A pool of worker threads that run the parts of one kernel call over the engine's shared memory.
// The calling thread takes parts from the call's shared queue like the workers do, then blocks in
// Atomics.wait until every worker has finished, so a threaded op is as synchronous as a
// single-threaded one. It never waits forever: a
// worker that died or misses the deadline makes the call throw and stops the pool (see ThreadPool).
import { SimdnetError } from "../errors.js";
import * as inline from "../../build/worker-inline.js";
import {
  ALIVE,
  ARGS,
  COUNT,
  DEAD,
  DONE,
  EXIT_CODE,
  EXITED,
  FAILED,
  KERNEL,
  MAX_ARGS,
  MAX_PARTS,
  NARGS,
  NEXT,
  PART_WORDS,
  PARTS_AT,
  QKERNEL,
  QUEUE_WORDS,
  RUN_QUEUE,
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
  type ThreadedKernel,
  type WorkerInit,
} from "./protocol.js";

/** What each environment's worker handle must offer. */
interface WorkerHandle {
  post(message: WorkerInit): void;
  /**
   * Asks the runtime to end the thread. It ends asynchronously: a thread running wasm stops at its
   * next loop iteration once it gets a CPU (Node then emits exit; Web Workers report nothing).
   */
  terminate(): void;
  /** Test hook (Node): terminate the thread `ms` from now, timed by the supervisor thread. */
  terminateAfter?(ms: number): void;
}

/** Events of one worker after spawning: its messages, an uncaught error, its end (where reported). */
interface WorkerEvents {
  message(data: { ready?: boolean; error?: string }): void;
  error(err: unknown): void;
  exit(code: number): void;
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

/** Starts worker threads for one pool; `dispose` ends what `spawn` started. */
interface Spawner {
  spawn(slot: number, on: WorkerEvents): WorkerHandle;
  /** Lets the process exit while the workers idle (Node); once every worker is ready. */
  unref(): void;
  dispose(): void;
}

/**
 * The Web Worker API where it exists (browsers, Deno, Bun): module workers from a blob URL of the
 * inlined worker source. Web Workers report no exit: a terminated one is noticed by its deadline.
 */
function webSpawner(): Spawner {
  const prefix = "const __simdnetPort = { on: (_e, f) => self.addEventListener('message', (ev) => f(ev.data)), postMessage: (m) => self.postMessage(m) };\n";
  return {
    spawn(_slot, on) {
      const url = URL.createObjectURL(new Blob([prefix + inline.workerSource], { type: "text/javascript" }));
      const worker = new Worker(url, { type: "module", name: "simdnet" });
      worker.onmessage = (ev) => on.message(ev.data);
      worker.onerror = (ev) => on.error(ev.message ?? ev);
      return {
        post: (m) => worker.postMessage(m),
        terminate: () => {
          worker.terminate();
          URL.revokeObjectURL(url);
        },
      };
    },
    unref: () => {},
    dispose: () => {},
  };
}

/**
 * The body of the Node supervisor thread (run from its own source text: it may use only its
 * arguments and globals). It spawns the workers, relays their messages, errors and exits to the
 * pool, and when a worker's thread ends it marks the worker's slot EXITED (keeping an earlier DEAD)
 * with its exit code and wakes a caller waiting on DONE: that caller blocks in Atomics.wait, where
 * no event reaches it.
 */
function superviseWorkers(
  port: { on(event: "message", f: (m: any) => void): void; postMessage(m: unknown): void; close(): void },
  WorkerClass: new (
    url: URL,
    options: { name: string },
  ) => {
    on(event: string, f: (v: any) => void): void;
    postMessage(m: unknown): void;
    terminate(): unknown;
  },
  workerUrl: string,
  control: SharedArrayBuffer,
  words: { SLOT: number; STATE: number; EXIT_CODE: number; DONE: number; ALIVE: number; EXITED: number },
): void {
  const ctrl = new Int32Array(control);
  const workers = new Map<number, InstanceType<typeof WorkerClass>>();
  let stopping = false;
  port.on("message", (m) => {
    if (m.spawn !== undefined) {
      const slot: number = m.spawn,
        base = slot * words.SLOT;
      const w = new WorkerClass(new URL(workerUrl), { name: "simdnet" });
      workers.set(slot, w);
      w.on("message", (data) => port.postMessage({ slot, kind: "message", data }));
      w.on("error", (err) => port.postMessage({ slot, kind: "error", data: String(err?.message ?? err) }));
      w.on("exit", (code) => {
        Atomics.store(ctrl, base + words.EXIT_CODE, code);
        Atomics.compareExchange(ctrl, base + words.STATE, words.ALIVE, words.EXITED);
        Atomics.notify(ctrl, base + words.DONE);
        workers.delete(slot);
        port.postMessage({ slot, kind: "exit", data: code });
        if (stopping && workers.size === 0) port.close();
      });
    } else if (m.post !== undefined) workers.get(m.slot)?.postMessage(m.post);
    else if (m.terminate !== undefined) {
      const w = workers.get(m.terminate);
      if (m.afterMs) setTimeout(() => w?.terminate(), m.afterMs);
      else w?.terminate();
    } else if (m.stop) {
      stopping = true;
      for (const w of workers.values()) w.terminate();
      if (workers.size === 0) port.close();
    }
  });
}

/**
 * Node: `worker_threads` module workers from a data: URL, owned by one supervisor thread (see
 * superviseWorkers) whose event loop is free while the calling thread waits, so a worker that dies
 * during a call is noticed at once.
 */
async function nodeSpawner(control: SharedArrayBuffer): Promise<Spawner> {
  const { Worker: NodeWorker } = await import("node:worker_threads");
  // an ES module from a data: URL: independent of the caller's module type and of --input-type
  const source = "import { parentPort as __simdnetPort } from 'node:worker_threads';\n" + inline.workerSource;
  const workerUrl = `data:text/javascript,${encodeURIComponent(source)}`;
  const words = { SLOT, STATE, EXIT_CODE, DONE, ALIVE, EXITED };
  const supervisorSource = `import { parentPort, Worker, workerData } from 'node:worker_threads';\n(${superviseWorkers.toString()})(parentPort, Worker, workerData.workerUrl, workerData.control, workerData.words);\n`;
  const supervisor = new NodeWorker(new URL(`data:text/javascript,${encodeURIComponent(supervisorSource)}`), {
    name: "simdnet-supervisor",
    workerData: { workerUrl, control, words },
  });
  const slots = new Map<number, WorkerEvents>();
  supervisor.on("message", (m: { slot: number; kind: "message" | "error" | "exit"; data: any }) => {
    const on = slots.get(m.slot);
    if (!on) return;
    if (m.kind === "message") on.message(m.data);
    else if (m.kind === "error") on.error(m.data);
    else on.exit(m.data);
  });
  // the supervisor itself ending (terminated from outside) ends its workers: report each
  const ended = (why: unknown) => {
    for (const [slot, on] of slots) {
      slots.delete(slot);
      on.error(`the simdnet supervisor thread ended (${errorText(why)})`);
      on.exit(1);
    }
  };
  supervisor.on("error", ended);
  supervisor.on("exit", (code) => ended(`exit code ${code}`));
  return {
    spawn(slot, on) {
      slots.set(slot, on);
      supervisor.postMessage({ spawn: slot });
      return {
        post: (m) => supervisor.postMessage({ slot, post: m }),
        terminate: () => supervisor.postMessage({ terminate: slot }),
        terminateAfter: (ms: number) => supervisor.postMessage({ terminate: slot, afterMs: ms }),
      };
    },
    unref: () => supervisor.unref(),
    // referenced again until it has ended, so that the workers' exits reach the pool (`exited`)
    dispose: () => {
      supervisor.ref();
      supervisor.postMessage({ stop: true });
    },
  };
}

/** Node always takes worker_threads; Deno, Bun and browsers the Web Worker API. */
async function spawnerFor(control: SharedArrayBuffer): Promise<Spawner> {
  // Node has no Web Worker API of its own, but a library loaded beside simdnet may install a
  // global Worker shim (seen with peers in the bench), whose blob: URLs worker_threads rejects.
  const g = globalThis as { Worker?: unknown; Bun?: unknown; Deno?: unknown; process?: { versions?: { node?: string } } };
  const isNode = !!g.process?.versions?.node && g.Bun === undefined && g.Deno === undefined;
  return !isNode && typeof g.Worker === "function" ? webSpawner() : nodeSpawner(control);
}

/** How long `run` sleeps per Atomics.wait before it looks at the clock and the workers' states again. */
const WAIT_SLICE_MS = 100;

/**
 * Starved workers. A call in which the calling thread ran every part itself, or waited for the
 * workers longer than it worked, for STARVED_CALL_MS at least, means the workers did not get a CPU
 * when they needed one: the machine is giving this process one core's worth (other processes, a
 * throttled VM). Posting to workers then only costs: the caller waits for workers to wake or to
 * finish parts they took, and a woken worker polls for the next call on the core the caller needs.
 * After STARVED_CALLS such calls in a row, `run` runs calls on the calling thread alone for a
 * window of STARVED_WINDOW_MS, doubled after each window whose first call starves again (at most
 * STARVED_WINDOW_MAX_MS), reset by a call in which the workers took parts without holding it up. The parts are the same either way,
 * so results are bit for bit those of the threaded calls.
 */
const STARVED_CALL_MS = 0.5,
  STARVED_CALLS = 3,
  STARVED_WINDOW_MS = 25,
  STARVED_WINDOW_MAX_MS = 1000;

/** Default of `threadTimeoutMs` (init option): how long the calling thread waits for the workers. */
export const DEFAULT_THREAD_TIMEOUT_MS = 60_000;

/** Why a pool stopped: set once, by the call that found a dead or late worker. */
export interface PoolFailure {
  message: string;
  /**
   * Whether a worker may still have been running its part when the pool stopped (it was late, not
   * dead): until that thread has really ended it may write into that call's output memory.
   */
  straggler: boolean;
}

const errorText = (err: unknown) => String((err as Error)?.message ?? err);
const workerList = (slots: number[]) => `${slots.length > 1 ? "workers" : "worker"} ${slots.map((s) => s + 1).join(", ")}`;

/**
 * n-1 workers (the calling thread is the n-th), each with its own instance of `module` (the
 * calling thread's threads build, so every part of a call runs the same code) over `memory`. `run` is synchronous; `dispose` ends the workers.
 *
 * A worker that dies (its error or exit event while the pool idles, the DEAD mark its loop leaves
 * in the control block, or in Node the EXITED mark the supervisor thread leaves when its thread
 * ends, also during a call) or does not finish its part within `timeoutMs` makes `run` throw,
 * naming the worker and the kernel, and stops the pool for good: every worker is terminated and
 * `failure` says why. A stopped pool is never restarted or reused (a late worker could still store
 * into its control block or the failed call's output).
 */
export class ThreadPool {
  private readonly ctrl: Int32Array;
  /** The part queue shared with the workers (protocol.ts). */
  private readonly queue = new Int32Array(new SharedArrayBuffer(QUEUE_WORDS * 4));
  /** Workers by slot (worker k = slot k - 1); emptied by dispose or a failure. */
  private workers: WorkerHandle[] = [];
  private spawner: Spawner | undefined;
  /** Why a worker is known to have died, by slot: from its error/exit event while idle. */
  private readonly deadReasons: (string | undefined)[] = [];
  private seq = 0;
  /** Starved calls in a row, and the calling-thread-only window (see STARVED_CALL_MS). */
  private starvedCalls = 0;
  private aloneUntil = 0;
  private aloneWindowMs = STARVED_WINDOW_MS;
  /** The first window's length (ms); a test hook may lengthen it so that a loaded machine cannot outlast it. */
  starvedWindowMs = STARVED_WINDOW_MS;
  /** Calls posted to the workers, and calls the calling thread ran alone while workers were starved. */
  callsPosted = 0;
  callsAlone = 0;
  private disposed = false;
  private stopFailure: PoolFailure | undefined;
  private exitCount = 0;
  private resolveExited!: () => void;
  private readonly slotExits = new Map<number, { promise: Promise<void>; resolve: () => void }>();
  /**
   * Resolves once every worker thread has ended, where the runtime reports that (Node); never
   * where it does not (Web Workers in browsers, Deno and Bun have no exit event).
   */
  readonly exited: Promise<void> = new Promise((resolve) => (this.resolveExited = resolve));

  private constructor(
    readonly size: number,
    /** How long `run` waits for the workers after finishing its own part (ms; Infinity: no limit). */
    readonly timeoutMs: number,
  ) {
    this.ctrl = new Int32Array(new SharedArrayBuffer(Math.max(1, size - 1) * SLOT * 4));
  }

  /** Starts `threads - 1` workers and waits until each has instantiated the module. */
  static async create(threads: number, module: WebAssembly.Module, memory: WebAssembly.Memory, timeoutMs = DEFAULT_THREAD_TIMEOUT_MS): Promise<ThreadPool> {
    const pool = new ThreadPool(threads, timeoutMs);
    try {
      const spawner = (pool.spawner = await spawnerFor(pool.ctrl.buffer as SharedArrayBuffer));
      await Promise.all(
        Array.from({ length: threads - 1 }, async (_, slot) => {
          let settle!: { resolve: () => void; reject: (e: Error) => void };
          const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
          const handle = spawner.spawn(slot, {
            message: (m) => (m.ready ? settle.resolve() : settle.reject(new SimdnetError(`simdnet worker ${slot + 1} failed to start: ${m.error}`))),
            error: (err) => {
              settle.reject(new SimdnetError(`simdnet worker ${slot + 1} failed: ${errorText(err)}`));
              pool.workerDied(slot, `died (uncaught error: ${errorText(err)})`);
            },
            exit: (code) => {
              settle.reject(new SimdnetError(`simdnet worker ${slot + 1} exited with code ${code} while starting`));
              pool.workerDied(slot, `died (its thread exited with code ${code})`);
              pool.workerExited(slot);
            },
          });
          pool.workers[slot] = handle;
          handle.post({ module, memory, control: pool.ctrl.buffer as SharedArrayBuffer, queue: pool.queue.buffer as SharedArrayBuffer, slot });
          await ready;
        }),
      );
      spawner.unref(); // an idle pool never keeps the process alive
    } catch (err) {
      pool.dispose();
      throw err;
    }
    return pool;
  }

  /** Gives each worker's instance its GEMM strip scratch (see protocol.ts, SCRATCH): `alloc()` once per worker. */
  setStripScratch(alloc: () => number): void {
    for (let slot = 0; slot < this.size - 1; slot++) Atomics.store(this.ctrl, slot * SLOT + SCRATCH, alloc());
  }

  /** Live workers (0 after dispose or a failure). */
  get workerCount(): number {
    return this.workers.length;
  }

  /** Why the pool stopped, if a call found a dead or late worker (then it has no workers). */
  get failure(): PoolFailure | undefined {
    return this.stopFailure;
  }

  /**
   * Runs `kernel` once per entry of `parts` (at most MAX_PARTS; the parts must write disjoint
   * memory): the calling thread (through `local`) and the workers take parts from a shared queue
   * one at a time until none is left, so a thread slowed by other work takes fewer; returns when
   * all are done. Waits at most `timeoutMs` for the workers after its own parts; throws a
   * SimdnetError, and stops the pool, if a worker is known dead before the call, dies during it
   * or is late.
   */
  run(kernel: ThreadedKernel, parts: number[][], local: (...args: number[]) => void): void {
    if (this.stopFailure) throw new SimdnetError(`${kernel}: the thread pool is stopped: ${this.stopFailure.message}`);
    if (parts.length > MAX_PARTS) throw new SimdnetError(`threads: ${parts.length} parts, at most ${MAX_PARTS} a call`);
    const ctrl = this.ctrl;
    // a worker known dead: fail before posting anything, so no worker is left running a part
    for (let slot = 0; slot < this.workers.length; slot++) {
      const why = this.deadReasons[slot] ?? this.stateReason(slot);
      if (why) this.stop(kernel, `simdnet worker ${slot + 1} ${why} before the call`, false);
    }
    if (performance.now() < this.aloneUntil) {
      this.callsAlone++;
      for (const args of parts) local(...args);
      return;
    }
    this.callsPosted++;
    const id = THREADED_KERNELS.indexOf(kernel);
    const seq = ++this.seq;
    const queue = this.queue;
    parts.forEach((args, p) => {
      if (args.length > MAX_ARGS) throw new SimdnetError(`threads: ${kernel} takes at most ${MAX_ARGS} arguments`);
      const at = PARTS_AT + p * PART_WORDS;
      queue[at] = args.length;
      for (let i = 0; i < args.length; i++) queue[at + 1 + i] = args[i]!;
    });
    queue[QKERNEL] = id;
    queue[COUNT] = parts.length;
    Atomics.store(queue, NEXT, 0);
    // the workers that can get a part (the calling thread takes parts too)
    const posted = Math.min(this.workers.length, parts.length - 1);
    for (let slot = 0; slot < posted; slot++) this.post(slot, seq, RUN_QUEUE, []);
    let localError: unknown;
    let localParts = 0;
    const localStart = performance.now();
    try {
      for (;;) {
        const p = takePart(queue, false);
        if (p < 0) break;
        localParts++;
        local(...parts[p]!);
      }
    } catch (err) {
      localError = err;
    }
    const localMs = performance.now() - localStart;
    // Wait in slices, every worker against one deadline. One that died during the call does not
    // end the wait for the others: the pool stops only when no live worker is still in its part
    // (or the deadline has passed).
    const deadline = performance.now() + this.timeoutMs;
    let failed = 0;
    const died: number[] = [],
      late: number[] = [];
    for (let slot = 0; slot < posted; slot++) {
      const base = slot * SLOT;
      // poll first: a worker's last part usually ends within SPIN_MS, and a sleeping thread wakes late
      spinUntil(() => Atomics.load(ctrl, base + DONE) === seq || Atomics.load(ctrl, base + STATE) !== ALIVE);
      for (;;) {
        const done = Atomics.load(ctrl, base + DONE);
        if (done === seq) {
          if (ctrl[base + STATUS] === FAILED) failed++;
          break;
        }
        if (Atomics.load(ctrl, base + STATE) !== ALIVE) {
          died.push(slot);
          break;
        }
        const left = deadline - performance.now();
        if (left <= 0) {
          late.push(slot);
          break;
        }
        Atomics.wait(ctrl, base + DONE, done, Math.min(left, WAIT_SLICE_MS));
      }
    }
    this.noteStarvation(localParts === parts.length, localMs, performance.now() - localStart - localMs);
    if (died.length || late.length) {
      const why = [
        ...died.map((slot) => `simdnet worker ${slot + 1} ${this.stateReason(slot)} during the call`),
        late.length ? `simdnet ${workerList(late)} did not finish within ${this.timeoutMs} ms (threadTimeoutMs)` : "",
      ].filter(Boolean);
      this.stop(kernel, why.join("; "), late.length > 0);
    }
    if (localError) throw localError;
    if (failed) throw new SimdnetError(`${kernel}: ${failed} worker thread(s) trapped`);
  }

  /**
   * Counts starved calls and opens the calling-thread-only window, from now (see STARVED_CALL_MS):
   * a call is starved when the caller ran every part, or waited for the workers longer than it
   * spent on its own parts, and the call took STARVED_CALL_MS at least.
   */
  private noteStarvation(ranAllParts: boolean, localMs: number, waitMs: number): void {
    const starved = (ranAllParts || waitMs > localMs) && localMs + waitMs >= STARVED_CALL_MS;
    if (!starved) {
      if (!ranAllParts) {
        this.starvedCalls = 0;
        this.aloneWindowMs = this.starvedWindowMs;
      }
    } else if (++this.starvedCalls >= STARVED_CALLS) {
      this.aloneWindowMs = Math.max(this.aloneWindowMs, this.starvedWindowMs);
      this.aloneUntil = performance.now() + this.aloneWindowMs;
      this.aloneWindowMs = Math.min(2 * this.aloneWindowMs, STARVED_WINDOW_MAX_MS);
      this.starvedCalls = STARVED_CALLS - 1; // the window's first call after it decides again
    }
  }

  /** Test hook (tests/threads.test.ts only): every worker sleeps `ms` after waking for a call, before it takes parts. */
  testDelayWorkers(ms: number): void {
    Atomics.store(this.queue, TEST_WAKE_DELAY, ms);
  }

  /** Stops and terminates every worker. Idempotent. */
  dispose(): void {
    this.disposed = true;
    const seq = ++this.seq;
    this.workers.forEach((_, slot) => this.post(slot, seq, STOP, []));
    for (const w of this.workers) w?.terminate();
    this.workers = [];
    this.spawner?.dispose();
    this.spawner = undefined;
  }

  /** Why the control block says worker `slot` is gone (its DEAD or EXITED mark), if it does. */
  private stateReason(slot: number): string | undefined {
    const base = slot * SLOT,
      state = Atomics.load(this.ctrl, base + STATE);
    if (state === DEAD) return "died (its loop ended with an error)";
    if (state === EXITED) return `died (its thread exited with code ${Atomics.load(this.ctrl, base + EXIT_CODE)})`;
    return undefined;
  }

  /**
   * Test hook (tests/threads.test.ts only): terminates worker k (1-based), as something outside
   * simdnet might, now or (Node) `afterMs` from now, timed by the supervisor thread so that it can
   * happen while the calling thread waits in a call. Resolves once the pool has seen that worker
   * exit (Node).
   */
  testTerminateWorker(k: number, afterMs = 0): Promise<void> {
    const w = this.workers[k - 1]!;
    if (afterMs > 0) {
      if (!w.terminateAfter) throw new SimdnetError("test hook: a delayed terminate needs Node's supervisor");
      w.terminateAfter(afterMs);
    } else w.terminate();
    return this.slotExit(k - 1).promise;
  }

  /**
   * Test hook (tests/threads.test.ts only): worker k (1-based) sleeps `ms` as if busy, then, if
   * `crash`, throws outside its kernel try/catch. Returns once the worker has taken the command
   * (so the next call's post cannot replace it unread); the promise resolves once the pool has
   * seen that worker exit (Node).
   */
  testHoldWorker(k: number, ms: number, crash = false): Promise<void> {
    const seq = ++this.seq,
      done = (k - 1) * SLOT + DONE;
    this.post(k - 1, seq, crash ? TEST_CRASH : TEST_SLEEP, [ms]);
    const deadline = performance.now() + 10_000;
    while (Atomics.load(this.ctrl, done) !== seq) {
      if (performance.now() > deadline) throw new SimdnetError(`test hook: worker ${k} did not take the command`);
      Atomics.wait(this.ctrl, done, Atomics.load(this.ctrl, done), WAIT_SLICE_MS);
    }
    return this.slotExit(k - 1).promise;
  }

  private post(slot: number, seq: number, kernel: number, args: number[]): void {
    const ctrl = this.ctrl,
      base = slot * SLOT;
    ctrl[base + KERNEL] = kernel;
    ctrl[base + NARGS] = args.length;
    for (let i = 0; i < args.length; i++) ctrl[base + ARGS + i] = args[i]!;
    Atomics.store(ctrl, base + SEQ, seq);
    Atomics.notify(ctrl, base + SEQ);
  }

  /** Stops the pool for good after a failure of `kernel` and throws it. */
  private stop(kernel: ThreadedKernel, why: string, straggler: boolean): never {
    this.stopFailure = { message: `${kernel}: ${why}; the thread pool is stopped and its workers terminated`, straggler };
    this.dispose();
    throw new SimdnetError(this.stopFailure.message);
  }

  private workerDied(slot: number, why: string): void {
    if (!this.disposed) this.deadReasons[slot] ??= why;
  }

  private workerExited(slot: number): void {
    this.slotExit(slot).resolve();
    if (++this.exitCount === this.size - 1) this.resolveExited();
  }

  private slotExit(slot: number): { promise: Promise<void>; resolve: () => void } {
    let exit = this.slotExits.get(slot);
    if (!exit) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.slotExits.set(slot, (exit = { promise, resolve }));
    }
    return exit;
  }
}
