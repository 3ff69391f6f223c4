// Constants of a graph (initializers, and values computed once while planning) with their device
// forms: a constant is uploaded once per axis order a kernel reads it in (conv weights in
// [KH, KW, C, OC] order, say) and kept until its owner (session or plan) is disposed.
import type { Engine } from "../engine.js";
import { Tensor } from "../tensor.js";
import { coalesce, contiguousStrides, writeNd } from "./nd.js";
import { type Elem, elemOf, type HostTensor, identityPerm, isIdentity, logicalStrides, type Perm, physicalDims, samePhysical, sizeOfDims } from "./types.js";

const key = (p: Perm) => p.join(",");

/** Constants of at least this many elements keep no host copy once on the device (VGG's 100M-weight fc6). */
const BIG = 1 << 20;

export class ConstValue {
  readonly elem: Elem;
  /** Device copies by perm. */
  private readonly forms = new Map<string, Tensor>();
  private hostData: HostTensor | undefined;

  constructor(
    readonly engine: Engine,
    readonly dataType: number,
    readonly shape: readonly number[],
    host?: HostTensor,
  ) {
    this.elem = elemOf(dataType);
    this.hostData = host;
  }

  get size(): number {
    return sizeOfDims(this.shape);
  }

  /** A constant whose value is a device tensor in `perm` order (computed while planning). */
  static fromDevice(engine: Engine, dataType: number, shape: readonly number[], perm: Perm, t: Tensor): ConstValue {
    const c = new ConstValue(engine, dataType, shape);
    c.forms.set(key(perm), t);
    return c;
  }

  /** The value in ONNX order on the host (downloaded once if it only lives on the device). */
  get host(): HostTensor {
    if (this.hostData) return this.hostData;
    const [k, t] = this.forms.entries().next().value as [string, Tensor];
    const perm = k === "" ? [] : k.split(",").map(Number);
    const phys = this.elem === "f32" ? t.data.slice() : t.ints.slice();
    const data = isIdentity(perm) ? phys : gatherHost(phys, physicalToLogical(this.shape, perm));
    this.hostData = { dataType: this.dataType, dims: this.shape, data };
    return this.hostData;
  }

  /**
   * The device copy in `perm` order, made on first use: from the host data (small constants), or
   * by copy_nd from a device copy in another order (big ones: no JavaScript loop over them).
   */
  device(perm: Perm): Tensor {
    const k = key(perm);
    let t = this.forms.get(k);
    if (t) return t;
    // a form whose bytes already lie in this order (axes of extent 1 may sit anywhere) serves as is
    for (const [fk, f] of this.forms) {
      if (samePhysical(fk === "" ? [] : fk.split(",").map(Number), perm, this.shape)) {
        this.forms.set(k, f);
        return f;
      }
    }
    const dims = physicalDims(this.shape, perm);
    const shape = dims.length ? dims : [1];
    if (this.size >= BIG || !this.hostData) {
      let madeSource = false;
      if (this.forms.size === 0) {
        this.forms.set(key(identityPerm(this.shape.length)), this.upload(this.host.data, [...this.shape]));
        madeSource = true;
      }
      const [sk, src] = this.forms.entries().next().value as [string, Tensor];
      if (sk === k) return src;
      const srcPerm = sk === "" ? [] : sk.split(",").map(Number);
      t = this.engine.empty(shape, this.elem, "a constant");
      const xs = logicalStrides(this.shape, srcPerm);
      const e = this.engine;
      writeNd(e.heap.i32, e.paramBlock, { dims: [...dims], strides: [contiguousStrides(dims), perm.map((a) => xs[a]!)] }, "constant layout");
      e.kernels.copy_nd(t.ptr, src.ptr, e.paramBlock);
      if (madeSource && this.size >= BIG) {
        src.dispose();
        this.forms.delete(sk);
      }
    } else {
      const h = this.host;
      const data = isIdentity(perm) ? h.data : gatherHost(h.data, { dims, strides: perm.map((a) => contiguousStrides(this.shape)[a]!) });
      t = this.upload(data, shape);
    }
    this.forms.set(k, t);
    if (this.size >= BIG) this.hostData = undefined; // `host` downloads it again if it is ever needed
    return t;
  }

  private upload(data: Float32Array | Int32Array, shape: number[]): Tensor {
    const dims = shape.length ? shape : [1];
    return this.elem === "f32" ? this.engine.tensor(dims, data) : this.engine.ints(dims, data);
  }

  dispose(): void {
    for (const t of new Set(this.forms.values())) t.dispose();
    this.forms.clear();
  }
}

/** The loop that reads a `perm`-order buffer in logical (ONNX) order. */
function physicalToLogical(shape: readonly number[], perm: Perm): { dims: number[]; strides: number[] } {
  return { dims: [...shape], strides: logicalStrides(shape, perm) };
}

/** out[i] = src[offset(i)] for i over `dims` in row-major order, offset by `strides` (elements). */
export function gatherHost<T extends Float32Array | Int32Array>(src: T, loop: { dims: readonly number[]; strides: readonly number[] }): T {
  const n = sizeOfDims(loop.dims);
  const out = new (src.constructor as new (n: number) => T)(n);
  if (n === 0) return out;
  const c = coalesce({ dims: [...loop.dims], strides: [contiguousStrides(loop.dims), [...loop.strides]] });
  const dims = c.dims,
    st = c.strides[1]!,
    r = dims.length;
  const idx = new Array<number>(r).fill(0);
  const inner = dims[r - 1]!,
    innerStride = st[r - 1]!;
  let off = 0;
  for (let i = 0; i < n; i += inner) {
    for (let j = 0, o = off; j < inner; j++, o += innerStride) out[i + j] = src[o]!;
    for (let d = r - 2; d >= 0; d--) {
      idx[d]!++;
      off += st[d]!;
      if (idx[d]! < dims[d]!) break;
      off -= st[d]! * dims[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** A Tensor view of `ptr` (not owned: never disposed by the runtime's callers). */
export function viewTensor(engine: Engine, ptr: number, dims: readonly number[], elem: Elem): Tensor {
  return new Tensor(engine, ptr, dims.length ? [...dims] : [1], elem);
}

/** A graph's initializers as ConstValues on `engine` (the caller disposes them). */
export function graphConstants(engine: Engine, initializers: ReadonlyMap<string, HostTensor>): Map<string, ConstValue> {
  const out = new Map<string, ConstValue>();
  for (const [name, t] of initializers) out.set(name, new ConstValue(engine, t.dataType, t.dims, t));
  return out;
}
