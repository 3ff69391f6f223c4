// The host allocator (src/memory.ts) and the engine's tensor lifetime (src/engine.ts, src/tensor.ts).
// Heaps are checked on their own memories (one with a small maximum to force out-of-memory) and
// through engines; each test makes a fresh engine so heap layouts do not leak between tests.
import { describe, expect, it } from "vitest";
import { ALIGN, Heap } from "../src/memory.js";
import { PARAM_BLOCK_BYTES } from "../src/engine.js";
import { init, OutOfMemoryError, relu, SimdnetError } from "../src/index.js";
import { uniform } from "./harness.js";

const PAGE = 65536;
const GiB = 2 ** 30;
const memory = (initial = 1, maximum?: number) => new WebAssembly.Memory(maximum === undefined ? { initial } : { initial, maximum });

describe("Heap", () => {
  it("hands out 16-byte aligned, non-overlapping blocks for every request size", () => {
    const heap = new Heap(memory(), 7); // an unaligned base is rounded up
    const blocks: [number, number][] = [];
    for (const bytes of [0, 1, 3, 4, 15, 16, 17, 31, 32, 33, 100, 4096, 4097]) {
      const ptr = heap.alloc(bytes);
      expect(ptr % ALIGN, `ptr for ${bytes} bytes`).toBe(0);
      expect(ptr).toBeGreaterThanOrEqual(7);
      blocks.push([ptr, Math.max(bytes, 1)]);
    }
    blocks.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < blocks.length; i++) {
      expect(blocks[i]![0], "blocks overlap").toBeGreaterThanOrEqual(blocks[i - 1]![0] + blocks[i - 1]![1]);
    }
  });

  it("rounds sizes up to 16 bytes and counts bytes in use", () => {
    const heap = new Heap(memory(), 0);
    const a = heap.alloc(1);
    const b = heap.alloc(17);
    expect(heap.bytesInUse).toBe(16 + 32);
    expect(b - a).toBe(16);
    heap.release(a);
    expect(heap.bytesInUse).toBe(32);
  });

  it("quarantine(): blocks live at that moment are not reused after release until endQuarantine()", () => {
    // (used after a worker-pool failure: a late worker may still store into them)
    const heap = new Heap(memory(), 0);
    const a = heap.alloc(64);
    heap.alloc(16); // keeps a away from the top
    const top = heap.alloc(32); // the top block when the quarantine starts
    heap.quarantine();
    const later = heap.alloc(48); // allocated under quarantine: an ordinary block
    heap.release(a);
    heap.release(top);
    expect(heap.bytesQuarantined).toBe(96);
    expect(heap.bytesInUse).toBe(16 + 48);
    const b = heap.alloc(64);
    expect(b).not.toBe(a);
    expect(b).toBeGreaterThan(later);
    heap.release(later); // not quarantined: free at once
    expect(heap.alloc(48)).toBe(later);
    expect(() => heap.release(a)).toThrow(/not a live allocation/); // still a double free
    heap.endQuarantine();
    expect(heap.bytesQuarantined).toBe(0);
    expect(heap.alloc(64)).toBe(a); // first fit reaches a's block again
    expect(heap.alloc(32)).toBe(top);
  });

  it("reuses a freed block (first fit) and splits a larger one", () => {
    const heap = new Heap(memory(), 0);
    const a = heap.alloc(64);
    const guard = heap.alloc(16);
    heap.release(a);
    const b = heap.alloc(32); // first fit: the front of a's block
    expect(b).toBe(a);
    const c = heap.alloc(32); // the rest of a's block
    expect(c).toBe(a + 32);
    const d = heap.alloc(16); // nothing free below the top now
    expect(d).toBeGreaterThan(guard);
  });

  it("coalesces a freed block with free neighbours on both sides", () => {
    for (const order of [
      [0, 1, 2],
      [2, 1, 0],
      [0, 2, 1],
      [1, 0, 2],
    ]) {
      const heap = new Heap(memory(), 0);
      const blocks = [heap.alloc(48), heap.alloc(48), heap.alloc(48)];
      const guard = heap.alloc(16); // keeps the three away from the top
      for (const i of order) heap.release(blocks[i]!);
      // one 144-byte block only exists if all three merged
      expect(heap.alloc(144), `free order ${order}`).toBe(blocks[0]);
      expect(heap.alloc(16)).toBeGreaterThan(guard);
    }
  });

  it("shrinks the top when the last block is freed, together with a free block below it", () => {
    const heap = new Heap(memory(), 0);
    const a = heap.alloc(32);
    const b = heap.alloc(32);
    const c = heap.alloc(32);
    heap.release(b); // a hole below c
    heap.release(c); // c was the top: the top falls back past b's hole to the end of a
    // a block larger than either hole lands right after a: only possible if the top shrank
    expect(heap.alloc(256)).toBe(b);
    expect(heap.alloc(16)).toBe(b + 256);
    heap.release(a);
    expect(heap.alloc(16)).toBe(a);
  });

  it("throws on double free and on freeing an unknown pointer, and stays usable", () => {
    const heap = new Heap(memory(), 0);
    const a = heap.alloc(32);
    const b = heap.alloc(32);
    heap.release(a);
    expect(() => heap.release(a)).toThrow(SimdnetError);
    expect(() => heap.release(a)).toThrow(/not a live allocation \(double free\?\)/);
    expect(() => heap.release(a + 16)).toThrow(SimdnetError);
    expect(() => heap.release(12345)).toThrow(/12345/);
    expect(heap.bytesInUse).toBe(32);
    expect(heap.alloc(32)).toBe(a);
    heap.release(b);
  });

  it("rejects negative, NaN and infinite sizes", () => {
    const heap = new Heap(memory(), 0);
    for (const bad of [-1, NaN, Infinity]) expect(() => heap.alloc(bad, "thing")).toThrow(/invalid byte count .* thing/);
  });

  it("grows memory on demand and re-makes its typed views", () => {
    const mem = memory(1);
    const heap = new Heap(mem, 0);
    const a = heap.alloc(1024);
    heap.f32.fill(1.5, a / 4, a / 4 + 256);
    const before = heap.f32;
    const big = heap.alloc(5 * PAGE + 3, "big block");
    expect(mem.buffer.byteLength).toBeGreaterThanOrEqual(big + 5 * PAGE + 3);
    expect(before.length, "the old view is detached by grow()").toBe(0);
    expect(heap.f32.length).toBe(mem.buffer.byteLength / 4);
    expect(heap.i32.length).toBe(mem.buffer.byteLength / 4);
    expect([...heap.f32.subarray(a / 4, a / 4 + 256)].every((v) => v === 1.5)).toBe(true);
    // a grow done behind the heap's back (by anyone holding the memory) is noticed too
    mem.grow(1);
    expect(heap.f32.length).toBe(mem.buffer.byteLength / 4);
  });

  it("names a memory's declared maximum as the limit when a request would pass it", () => {
    const heap = new Heap(memory(1, 4), 0, 4 * PAGE);
    heap.alloc(PAGE);
    const err = (() => {
      try {
        heap.alloc(4 * PAGE, "model parameter gradients");
      } catch (e) {
        return e as OutOfMemoryError;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(OutOfMemoryError);
    expect(err!.bytesLimit).toBe(4 * PAGE);
    expect(err!.message).toContain(`cannot grow past ${4 * PAGE} bytes`);
    expect(heap.alloc(2 * PAGE)).toBeGreaterThan(0); // below the maximum it still grows
  });

  it("throws OutOfMemoryError naming the bytes asked for when a memory's maximum is reached", () => {
    const mem = memory(1, 4);
    const heap = new Heap(mem, 0);
    const a = heap.alloc(PAGE);
    heap.f32.fill(2.5, a / 4, a / 4 + PAGE / 4);
    let err: unknown;
    try {
      heap.alloc(4 * PAGE, "a tensor of shape [65536]");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OutOfMemoryError);
    expect(err).toBeInstanceOf(SimdnetError);
    const oom = err as OutOfMemoryError;
    expect(oom.bytesRequested).toBe(4 * PAGE);
    expect(oom.bytesInUse).toBe(PAGE);
    expect(oom.bytesLimit).toBeLessThanOrEqual(4 * PAGE);
    expect(oom.message).toContain(`${4 * PAGE} bytes`);
    expect(oom.message).toContain(`${PAGE} bytes are in use`);
    expect(oom.message).toContain("a tensor of shape [65536]");
    // nothing changed: the old block is intact and smaller requests still fit
    expect(heap.bytesInUse).toBe(PAGE);
    expect([...heap.f32.subarray(a / 4, a / 4 + PAGE / 4)].every((v) => v === 2.5)).toBe(true);
    const b = heap.alloc(2 * PAGE);
    expect(b).toBe(a + PAGE);
    expect(mem.buffer.byteLength).toBeLessThanOrEqual(4 * PAGE);
  });

  it("refuses requests past the wasm32 limit (4 GiB) without wrapping the size around", () => {
    const heap = new Heap(memory(1), 0);
    for (const bytes of [5 * GiB, 4 * GiB + 16, 2 ** 31 * 3, 2 ** 53]) {
      expect(() => heap.alloc(bytes), `${bytes} bytes`).toThrow(OutOfMemoryError);
      expect(() => heap.alloc(bytes)).toThrow(`needs ${bytes} bytes`);
    }
    expect(heap.bytesInUse).toBe(0);
  });
});

describe("Engine memory and tensor lifetime", () => {
  it("gives every tensor a 16-byte aligned pointer", async () => {
    const e = await init({ build: "scalar" });
    for (const n of [1, 3, 5, 7, 9, 17]) expect(e.tensor([n]).ptr % 16).toBe(0);
  });

  it("keeps tensor contents when memory grows, and views fetched again are valid", async () => {
    const e = await init({ build: "simd" });
    const xv = uniform(1000, 1);
    const x = e.tensor([10, 100], xv);
    const oldView = x.data;
    const oldBuffer = e.memory.buffer;
    const big = e.zeros([4 * 1024 * 1024]); // 16 MiB: forces memory.grow
    expect(e.memory.buffer).not.toBe(oldBuffer);
    expect(oldView.length, "views made before grow() are detached").toBe(0);
    expect(x.data).toEqual(xv);
    // kernels see the same bytes through the grown memory
    const y = relu(x);
    expect([...y.data]).toEqual([...xv].map((v) => Math.max(v, 0)));
    expect(big.data.length).toBe(4 * 1024 * 1024);
    expect(big.data.every((v) => v === 0)).toBe(true);
  });

  it("throws OutOfMemoryError for a 5 GiB tensor and leaves existing tensors intact", async () => {
    const e = await init({ build: "scalar" });
    const xv = uniform(64, 2);
    const x = e.tensor([64], xv);
    const inUse = e.heap.bytesInUse;
    const size = e.memory.buffer.byteLength;
    const shape = [5, 1024, 1024, 256]; // 5 * 2^28 floats = 5 GiB
    expect(() => e.zeros(shape)).toThrow(OutOfMemoryError);
    expect(() => e.zeros(shape)).toThrow(`a tensor of shape [5,1024,1024,256] needs ${5 * GiB} bytes`);
    expect(e.heap.bytesInUse).toBe(inUse);
    expect(e.memory.buffer.byteLength).toBe(size);
    expect(x.data).toEqual(xv);
    expect(relu(x).toArray()).toEqual(xv.map((v) => Math.max(v, 0)));
  });

  it("rejects invalid shapes", async () => {
    const e = await init({ build: "scalar" });
    for (const bad of [[-1], [2, 1.5], [NaN], [Infinity]]) expect(() => e.zeros(bad)).toThrow(/Engine\.zeros: shape must be an array of integers >= 0, got \[/);
    expect(e.heap.bytesInUse).toBe(PARAM_BLOCK_BYTES); // only the engine's kernel-parameter block
  });

  it("does not leak a tensor whose initial values have the wrong length", async () => {
    const e = await init({ build: "scalar" });
    expect(() => e.tensor([2, 3], [1, 2, 3])).toThrow("Tensor.set: got 3 values for a tensor of shape [2,3] (6)");
    expect(() => e.ints([4], [1])).toThrow(SimdnetError);
    expect(e.heap.bytesInUse).toBe(PARAM_BLOCK_BYTES);
  });

  it("tidy() disposes intermediates and keeps returned tensors (alone, in arrays and objects)", async () => {
    const e = await init({ build: "scalar" });
    const outside = e.tensor([4], [1, -2, 3, -4]);
    const base = e.heap.bytesInUse;
    let inner: ReturnType<typeof e.tensor>[] = [];
    const kept = e.tidy(() => {
      const a = relu(outside);
      const b = relu(a);
      const c = e.zeros([8]);
      const d = e.ints([3], [1, 2, 3]);
      inner = [a, b, c, d];
      return { y: b, list: [d] };
    });
    expect(inner[0]!.isDisposed).toBe(true);
    expect(inner[2]!.isDisposed).toBe(true);
    expect(kept.y.isDisposed).toBe(false);
    expect(kept.list[0]!.isDisposed).toBe(false);
    expect([...kept.y.data]).toEqual([1, 0, 3, 0]);
    expect([...kept.list[0]!.ints]).toEqual([1, 2, 3]);
    expect(outside.isDisposed).toBe(false);
    expect(e.heap.bytesInUse).toBe(base + 16 + 16);
    kept.y.dispose();
    kept.list[0]!.dispose();
    expect(e.heap.bytesInUse).toBe(base);
  });

  it("nested tidy() hands returned tensors to the enclosing scope", async () => {
    const e = await init({ build: "scalar" });
    let fromInner: ReturnType<typeof e.tensor> | undefined;
    e.tidy(() => {
      fromInner = e.tidy(() => {
        e.zeros([5]);
        return e.zeros([6]);
      });
      expect(fromInner.isDisposed).toBe(false);
    });
    expect(fromInner!.isDisposed).toBe(true);
    expect(e.heap.bytesInUse).toBe(PARAM_BLOCK_BYTES);
  });

  it("tidy() disposes intermediates when its function throws", async () => {
    const e = await init({ build: "scalar" });
    expect(() =>
      e.tidy(() => {
        e.zeros([100]);
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(e.heap.bytesInUse).toBe(PARAM_BLOCK_BYTES);
  });

  it("disposed tensors throw on any use; dispose twice is harmless", async () => {
    const e = await init({ build: "scalar" });
    const x = e.tensor([2, 2], [1, 2, 3, 4]);
    const i = e.ints([2], [1, 2]);
    x.dispose();
    i.dispose();
    x.dispose();
    expect(e.heap.bytesInUse).toBe(PARAM_BLOCK_BYTES);
    expect(() => x.data).toThrow("data: tensor [2,2] was disposed");
    expect(() => i.ints).toThrow(/was disposed/);
    expect(() => x.toArray()).toThrow(SimdnetError);
    expect(() => x.set([1, 2, 3, 4])).toThrow(/was disposed/);
    expect(() => relu(x)).toThrow("relu: x: tensor [2,2] was disposed");
    const y = e.zeros([2, 2]);
    expect(() => relu(y, x)).toThrow(/relu: out: tensor \[2,2\] was disposed/);
  });

  it("reuses freed tensor memory instead of growing", async () => {
    const e = await init({ build: "scalar" });
    e.tidy(() => void relu(e.zeros([64, 1024])));
    const grown = e.memory.buffer.byteLength;
    for (let i = 0; i < 200; i++) e.tidy(() => void relu(e.zeros([64, 1024])));
    expect(e.memory.buffer.byteLength).toBe(grown);
    expect(e.heap.bytesInUse).toBe(PARAM_BLOCK_BYTES);
  });

  it("rejects mixing tensors of two engines", async () => {
    const e1 = await init({ build: "scalar" });
    const e2 = await init({ build: "scalar" });
    const a = e1.zeros([3]);
    expect(() => relu(a, e2.zeros([3]))).toThrow("relu: out belongs to a different engine");
  });
});
