// A tensor's shape cannot be changed after construction, and the public Tensor constructor only
// wraps memory that is a live allocation of that engine's heap with room for the shape.
import { describe, expect, it } from "vitest";
import * as nn from "../src/index.js";

describe("Tensor guards", () => {
  it("tensor.shape is frozen: writing it throws (strict mode) and nothing else is overwritten", async () => {
    const e = await nn.init({ build: "simd" });
    const t = e.tensor([2, 3], [1, 2, 3, 4, 5, 6]);
    const next = e.tensor([4], [9, 9, 9, 9]);
    expect(Object.isFrozen(t.shape)).toBe(true);
    expect(() => {
      (t.shape as number[])[0] = 64;
    }).toThrow(TypeError);
    expect(() => (t.shape as number[]).push(5)).toThrow(TypeError);
    expect(t.shape).toEqual([2, 3]);
    nn.fill(t, 7);
    expect(Array.from(t.data)).toEqual([7, 7, 7, 7, 7, 7]);
    expect(Array.from(next.data)).toEqual([9, 9, 9, 9]);
    // the shape given is copied: changing the caller's array changes nothing
    const shape = [1, 4];
    const u = e.zeros(shape);
    shape[1] = 4096;
    expect(u.shape).toEqual([1, 4]);
    // views and planned tensors are frozen too
    const m = nn.createModel(e, [{ type: "dense", units: 3 }], { inputShape: [4], batch: 2 });
    const y = m.forward(new Float32Array(8));
    expect(Object.isFrozen(y.shape)).toBe(true);
    expect(Object.isFrozen(m.parameters()[0]!.value.shape)).toBe(true);
    m.dispose();
  });

  it("the Tensor constructor refuses pointers that are not live allocations with enough bytes", async () => {
    const e = await nn.init({ build: "simd" });
    const other = await nn.init({ build: "scalar" });
    const t = e.tensor([8], [1, 2, 3, 4, 5, 6, 7, 8]);
    // a view of a live block, inside it: fine
    const view = new nn.Tensor(e, t.ptr + 16, [4]);
    expect(Array.from(view.data)).toEqual([5, 6, 7, 8]);
    for (const [ptr, shape, why] of [
      [0, [4], "address 0"],
      [8, [4], "static data below the heap"],
      [t.ptr, [9], "more elements than the block holds"],
      [t.ptr + 16, [5], "past the block's end"],
      [t.ptr + 2, [1], "unaligned"],
      [-16, [1], "negative"],
      [2 ** 40, [1], "past the memory"],
      [NaN, [1], "not a number"],
      [e.memory.buffer.byteLength - 64, [4], "free memory"],
    ] as const) {
      expect(() => new nn.Tensor(e, ptr, shape), why).toThrow(nn.SimdnetError);
    }
    expect(() => new nn.Tensor(other, t.ptr, [8]), "another engine's heap").toThrow(nn.SimdnetError);
    expect(() => new nn.Tensor({} as nn.Engine, t.ptr, [8])).toThrow(nn.SimdnetError);
    expect(() => new nn.Tensor(e, t.ptr, [-1])).toThrow(nn.SimdnetError);
    expect(() => new nn.Tensor(e, t.ptr, [2, 1.5])).toThrow(nn.SimdnetError);
    expect(() => new nn.Tensor(e, t.ptr, [8], "f64" as nn.DType)).toThrow(nn.SimdnetError);
    const freed = e.tensor([4]);
    e.tensor([100]); // keeps the freed block from merging into the top
    const at = freed.ptr;
    freed.dispose();
    expect(() => new nn.Tensor(e, at, [4]), "a freed block").toThrow(nn.SimdnetError);
  });
});
