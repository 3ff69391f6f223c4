import { OutOfMemoryError, SimdnetError } from "./errors.js";

const PAGE = 65536;
/** Every block starts on a 16-byte boundary, so v128 loads of a tensor's start are aligned. */
export const ALIGN = 16;
/** wasm32 cannot address more than 4 GiB; engines may refuse earlier (the grow call then throws). */
const WASM32_LIMIT = 65536 * PAGE;
/**
 * The default of the engine's memory limit (init option `memoryLimit`): 2 GiB. It keeps every
 * address below 2^31, so addresses stay positive as JavaScript int32 (`ptr >> 2` indexes views).
 */
export const DEFAULT_MEMORY_LIMIT = 2 ** 31;

// Plain arithmetic, not `& ~15`: bitwise operators truncate to 32 bits, which turned a 5 GiB
// request into a 1 GiB block.
const alignUp = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/**
 * The host-side allocator of the kernels' linear memory: first fit over a sorted free list,
 * neighbours coalesced on free. Memory grows on demand; a failed grow throws OutOfMemoryError
 * and changes nothing. Typed-array views must be fetched after any allocation (grow() detaches
 * the old buffer): use `f32`/`i32`, which are re-made when the buffer changes.
 */
export class Heap {
  private top: number; // first byte never handed out
  private readonly free: { ptr: number; size: number }[] = []; // sorted by ptr, coalesced
  private readonly live = new Map<number, number>(); // ptr -> size
  // While set (see quarantine()): live blocks whose release must not make them reusable yet.
  private quarantined: Set<number> | undefined;
  private held: { ptr: number; size: number }[] = []; // released quarantined blocks
  private allocations = 0;
  private buffer: ArrayBuffer | SharedArrayBuffer;
  private f32View: Float32Array;
  private i32View: Int32Array;
  private inUse = 0;
  private readonly base: number;
  /**
   * The most bytes linear memory may span: the smallest of the memory limit, the memory's declared
   * maximum and 4 GiB. The heap never grows memory past it.
   */
  readonly limit: number;
  private readonly limitKind: "grow" | "budget";

  constructor(
    readonly memory: WebAssembly.Memory,
    base: number,
    /** The memory's declared maximum in bytes, where known (the threads build's shared memory). */
    maxBytes = WASM32_LIMIT,
    /** The engine's memory limit (init option memoryLimit); none by default. */
    memoryLimit = Infinity,
  ) {
    this.base = this.top = alignUp(base);
    this.buffer = memory.buffer;
    this.f32View = new Float32Array(this.buffer);
    this.i32View = new Int32Array(this.buffer);
    const hard = Math.min(maxBytes, WASM32_LIMIT);
    this.limit = Math.min(hard, memoryLimit);
    this.limitKind = memoryLimit < hard ? "budget" : "grow";
  }

  /** A float32 view of all of memory, valid until the next allocation. */
  get f32(): Float32Array {
    if (this.buffer !== this.memory.buffer) this.refresh();
    return this.f32View;
  }

  /** An int32 view of all of memory, valid until the next allocation. */
  get i32(): Int32Array {
    if (this.buffer !== this.memory.buffer) this.refresh();
    return this.i32View;
  }

  /** Bytes in live blocks. */
  get bytesInUse(): number {
    return this.inUse;
  }

  /**
   * The most bytes one more block could get (the limit minus static data and the bytes in use),
   * were the free space in one piece: requests above it are refused before anything is allocated.
   */
  get bytesAvailable(): number {
    return Math.max(0, this.limit - this.base - this.inUse);
  }

  /**
   * Throws OutOfMemoryError, changing nothing, unless `bytes` more could fit within the limit
   * (bytesAvailable). For sizing a plan, a workspace or a host-side buffer before building it.
   */
  checkRoom(bytes: number, what: string): void {
    if (typeof bytes !== "number" || Number.isNaN(bytes) || bytes < 0) throw new SimdnetError(`alloc: invalid byte count ${bytes} for ${what}`);
    if (bytes > this.bytesAvailable) throw new OutOfMemoryError(bytes, this.inUse, this.limit, what, this.limitKind);
  }

  /**
   * Allocations made so far (successful alloc() calls): a planned model's step, or a planned
   * graph's run, leaves it unchanged (tests check that).
   */
  get allocationCount(): number {
    return this.allocations;
  }

  /**
   * Throws OutOfMemoryError, changing nothing, if `bytes` could not fit within the limit even were
   * nothing else in use: for sizes that may later share memory with what is in use (a view of a
   * constant), where checkRoom would refuse too early.
   */
  checkCapacity(bytes: number, what: string): void {
    if (typeof bytes !== "number" || Number.isNaN(bytes) || bytes < 0) throw new SimdnetError(`alloc: invalid byte count ${bytes} for ${what}`);
    if (bytes > this.limit - this.base) throw new OutOfMemoryError(bytes, this.inUse, this.limit, what, this.limitKind);
  }

  /** Allocates `bytes` (rounded up to 16), 16-byte aligned, contents undefined. `what` names it in errors. */
  alloc(bytes: number, what = "a buffer"): number {
    if (!Number.isFinite(bytes) || bytes < 0) throw new SimdnetError(`alloc: invalid byte count ${bytes} for ${what}`);
    const size = Math.max(ALIGN, alignUp(bytes));
    this.checkRoom(size, what);
    for (let i = 0; i < this.free.length; i++) {
      const block = this.free[i]!;
      if (block.size < size) continue;
      const ptr = block.ptr;
      if (block.size === size) this.free.splice(i, 1);
      else {
        block.ptr += size;
        block.size -= size;
      }
      this.live.set(ptr, size);
      this.allocations++;
      this.inUse += size;
      return ptr;
    }
    const ptr = this.top;
    this.ensure(ptr + size, size, what);
    this.top = ptr + size;
    this.live.set(ptr, size);
    this.allocations++;
    this.inUse += size;
    return ptr;
  }

  /**
   * Whether [ptr, ptr + bytes) lies inside one live block (a tensor's own block or a view into
   * it, e.g. a model plan's named views).
   */
  covers(ptr: number, bytes: number): boolean {
    if (!Number.isSafeInteger(ptr) || !Number.isSafeInteger(bytes) || ptr < 0 || bytes < 0) return false;
    const own = this.live.get(ptr);
    if (own !== undefined) return bytes <= own;
    for (const [start, size] of this.live) if (ptr >= start && ptr + bytes <= start + size) return true;
    return false;
  }

  /** Returns a block to the free list. Freeing an unknown pointer is an error, never silent. */
  release(ptr: number): void {
    const size = this.live.get(ptr);
    if (size === undefined) throw new SimdnetError(`free: ${ptr} is not a live allocation (double free?)`);
    this.live.delete(ptr);
    this.inUse -= size;
    if (this.quarantined?.delete(ptr)) this.held.push({ ptr, size });
    else this.addFree(ptr, size);
  }

  /**
   * Keeps every block live now from being handed out again after its release, until
   * endQuarantine(): for memory that a thread which could not be stopped synchronously (a late
   * worker after a pool failure) may still write. Blocks allocated later are not affected.
   */
  quarantine(): void {
    this.quarantined = new Set(this.live.keys());
  }

  /** Ends quarantine(): the blocks released meanwhile become free. */
  endQuarantine(): void {
    const held = this.held;
    this.quarantined = undefined;
    this.held = [];
    for (const { ptr, size } of held) this.addFree(ptr, size);
  }

  /** Bytes released under quarantine() and not yet reusable. */
  get bytesQuarantined(): number {
    return this.held.reduce((n, b) => n + b.size, 0);
  }

  private addFree(ptr: number, size: number): void {
    if (ptr + size === this.top) {
      this.top = ptr;
      // the block now at the end of the free list may have become the top too
      const last = this.free[this.free.length - 1];
      if (last && last.ptr + last.size === this.top) {
        this.top = last.ptr;
        this.free.pop();
      }
      return;
    }
    let i = 0;
    while (i < this.free.length && this.free[i]!.ptr < ptr) i++;
    this.free.splice(i, 0, { ptr, size });
    const next = this.free[i + 1];
    if (next && ptr + size === next.ptr) {
      this.free[i]!.size += next.size;
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev && prev.ptr + prev.size === ptr) {
      prev.size += this.free[i]!.size;
      this.free.splice(i, 1);
    }
  }

  private ensure(end: number, size: number, what: string): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / PAGE);
    // grow at least 1/8 more to keep the number of grow() calls (and view re-makes) small
    const extra = Math.max(pages, Math.ceil(have / PAGE / 8));
    const limit = this.limit;
    if (end > limit) throw new OutOfMemoryError(size, this.bytesInUse, limit, what, this.limitKind);
    try {
      this.memory.grow(Math.min(extra, limit / PAGE - have / PAGE));
    } catch {
      try {
        this.memory.grow(pages);
      } catch {
        throw new OutOfMemoryError(size, this.bytesInUse, this.memory.buffer.byteLength, what);
      }
    }
    this.refresh();
  }

  private refresh(): void {
    this.buffer = this.memory.buffer;
    this.f32View = new Float32Array(this.buffer);
    this.i32View = new Int32Array(this.buffer);
  }
}
