import { fail, fmtShape, fmtValue, SimdnetError } from "./errors.js";
import type { Engine } from "./engine.js";

/** Element type of a tensor: float32 values, or int32 labels and indices. */
export type DType = "f32" | "i32";
/** A tensor's dimensions, outermost first (NHWC for images). */
export type Shape = readonly number[];

export const sizeOf = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

/** Largest dimension of a tensor: sizes are 32-bit in the kernels. */
const MAX_DIM = 2 ** 31 - 1;

/**
 * A dense tensor in an engine's wasm linear memory, row-major. Image tensors are NHWC
 * (batch, height, width, channels); conv weights are [KH, KW, Cin/groups, Cout].
 * The bytes belong to the engine's heap until `dispose()`.
 *
 * Make tensors with the engine (`engine.tensor`, `zeros`, `empty`, `ints`) or the ops. The
 * constructor wraps memory the engine's heap already holds: `ptr` must lie, with room for every
 * element of `shape`, inside one live allocation of that engine (a tensor or a view into one);
 * anything else is refused. The shape is copied and frozen: it can never change.
 */
export class Tensor {
  private disposed = false;
  readonly engine: Engine;
  /** Byte address in linear memory, 16-byte aligned for tensors the engine allocates. */
  readonly ptr: number;
  readonly shape: Shape;
  readonly dtype: DType;

  constructor(engine: Engine, ptr: number, shape: Shape, dtype: DType = "f32") {
    if (!engine || typeof engine !== "object" || !(engine.heap as unknown as { covers?: unknown })?.covers)
      fail("Tensor", `engine must be an Engine, got ${fmtValue(engine)}`);
    let ok = Array.isArray(shape);
    for (let i = 0; ok && i < shape.length; i++) ok = Number.isInteger(shape[i]) && shape[i]! >= 0 && shape[i]! <= MAX_DIM;
    if (!ok) fail("Tensor", `shape must be an array of integers from 0 to ${MAX_DIM}, got ${fmtValue(shape)}`);
    if (dtype !== "f32" && dtype !== "i32") fail("Tensor", `dtype must be "f32" or "i32", got ${fmtValue(dtype)}`);
    const bytes = sizeOf(shape) * 4;
    if (!Number.isSafeInteger(ptr) || ptr % 4 !== 0 || !engine.heap.covers(ptr, bytes)) {
      fail(
        "Tensor",
        `address ${fmtValue(ptr)} with ${bytes} bytes (shape ${fmtShape(shape)}) is not inside a live allocation of this engine's heap: make tensors with engine.tensor / zeros / empty`,
      );
    }
    this.engine = engine;
    this.ptr = ptr;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** A live view of the elements. Re-fetch it after anything that allocates (memory may grow). */
  get data(): Float32Array {
    this.assertLive("data");
    if (this.dtype !== "f32") fail("Tensor.data", `tensor is ${this.dtype}; use .ints`);
    return new Float32Array(this.engine.memory.buffer, this.ptr, this.size);
  }

  /** A live view of an i32 tensor's elements (labels, arg-max indices). */
  get ints(): Int32Array {
    this.assertLive("ints");
    if (this.dtype !== "i32") fail("Tensor.ints", `tensor is ${this.dtype}; use .data`);
    return new Int32Array(this.engine.memory.buffer, this.ptr, this.size);
  }

  /** A copy of the elements that stays valid after the tensor is disposed. */
  toArray(): Float32Array | Int32Array {
    return this.dtype === "f32" ? this.data.slice() : this.ints.slice();
  }

  /** Copies `values` in; their length must equal the tensor's size. */
  set(values: ArrayLike<number>): this {
    if (values === null || typeof values !== "object" || typeof values.length !== "number") {
      fail("Tensor.set", `values must be an array or typed array of numbers, got ${fmtValue(values)}`);
    }
    if (values.length !== this.size) {
      fail("Tensor.set", `got ${values.length} values for a tensor of shape ${fmtShape(this.shape)} (${this.size})`);
    }
    (this.dtype === "f32" ? this.data : this.ints).set(values);
    return this;
  }

  /** Frees the bytes. Using the tensor afterwards is an error. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.engine.release(this);
  }

  assertLive(op: string): void {
    if (this.disposed) throw new SimdnetError(`${op}: tensor ${fmtShape(this.shape)} was disposed`);
  }
}
