import { fail, fmtShape } from "./errors.js";
import { Heap } from "./memory.js";
import { type BuildName, detectBuild, instantiateBuild, type Kernels } from "./runtime.js";
import { type DType, type Shape, sizeOf, Tensor } from "./tensor.js";

export interface InitOptions {
  /** Which wasm build to run: "auto" (default) picks relaxed, SIMD or scalar by feature detection. */
  build?: "auto" | BuildName;
}

/**
 * One wasm instance: its kernels, its linear memory and the heap that owns every byte of it.
 * Tensors belong to the engine that made them; ops check that all operands share one.
 */
/** Bytes of the engine's kernel-parameter block (e.g. conv geometry: 16 i32). */
export const PARAM_BLOCK_BYTES = 256;

export class Engine {
  readonly heap: Heap;
  /**
   * Address of a small block that op wrappers fill with a kernel's parameters right before the
   * call (instead of long positional argument lists). Allocated once with the engine; never freed.
   */
  readonly paramBlock: number;
  private readonly scopes: Tensor[][] = [];

  constructor(
    readonly build: BuildName,
    readonly kernels: Kernels,
  ) {
    this.heap = new Heap(kernels.memory, kernels.heap_base());
    this.paramBlock = this.heap.alloc(PARAM_BLOCK_BYTES, "the kernel parameter block");
  }

  get memory(): WebAssembly.Memory {
    return this.kernels.memory;
  }

  /** A new tensor with uninitialised contents unless `values` is given. */
  empty(shape: Shape, dtype: DType = "f32", what = "a tensor"): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) fail("tensor", `invalid shape ${fmtShape(shape)}`);
    }
    const ptr = this.heap.alloc(sizeOf(shape) * 4, `${what} of shape ${fmtShape(shape)}`);
    const t = new Tensor(this, ptr, [...shape], dtype);
    this.scopes[this.scopes.length - 1]?.push(t);
    return t;
  }

  /** A new float32 tensor holding `values` (copied) or zeros. */
  tensor(shape: Shape, values?: ArrayLike<number>): Tensor {
    const t = this.empty(shape);
    return values ? this.setOrDispose(t, values) : this.fillZero(t);
  }

  zeros(shape: Shape): Tensor {
    return this.fillZero(this.empty(shape));
  }

  /** A new int32 tensor (class labels, indices). */
  ints(shape: Shape, values?: ArrayLike<number>): Tensor {
    const t = this.empty(shape, "i32");
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

/** Loads a wasm build (feature-detected unless forced) and returns an engine over it. */
export async function init(options: InitOptions = {}): Promise<Engine> {
  const build = !options.build || options.build === "auto" ? await detectBuild() : options.build;
  return new Engine(build, await instantiateBuild(build));
}
