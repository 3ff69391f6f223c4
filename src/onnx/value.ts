// Values flowing through an imported ONNX graph, and the context op implementations run in.
//
// A Value has a logical ONNX shape (NCHW for images) and lives on the host (a JS array in ONNX
// row-major order: constants, shape plumbing, host-side ops) and/or on the device (a wasm Tensor).
// A device tensor is stored either in ONNX order ("onnx": its Tensor.shape equals the ONNX shape)
// or, for rank-4 image tensors, NHWC ("nhwc": Tensor.shape is [N, H, W, C]). Conversions between
// the forms happen on demand and are cached on the value, so a weight is converted once.
import type { Engine } from "../engine.js";
import { fail, fmtShape } from "../errors.js";
import { Tensor } from "../tensor.js";
import { DataType, dataTypeName } from "./onnx-proto.js";
import { type HostData, permute, sizeOfDims } from "./host.js";

export type Layout = "onnx" | "nhwc";

const NCHW_TO_NHWC = [0, 2, 3, 1];
const NHWC_TO_NCHW = [0, 3, 1, 2];

/** Constants at least this large (elements) keep no host copy once uploaded (e.g. VGG's 100M-weight fc6). */
const BIG_CONSTANT = 1 << 20;

export const isFloatType = (t: number): boolean => t === DataType.FLOAT || t === DataType.DOUBLE;

export class Value {
  /** ONNX row-major data (Float32Array for float, Float64Array for every other type). */
  host?: HostData;
  /** The device tensor, in `layout`. */
  dev?: Tensor;
  layout: Layout = "onnx";
  /** Known at import (initializers, Constant, folded nodes): never disposed by a run. */
  constant = false;
  /** Device forms derived from this value (another layout, packed conv weights), by key. */
  readonly derived = new Map<string, Tensor>();
  /** Consumers still to run in the current pass (reference count for freeing intermediates). */
  uses = 0;

  constructor(
    readonly shape: readonly number[],
    readonly dataType: number = DataType.FLOAT,
  ) {}

  get size(): number {
    return sizeOfDims(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  static fromHost(shape: readonly number[], data: HostData, dataType: number = DataType.FLOAT): Value {
    if (data.length !== sizeOfDims(shape)) fail("onnx", `value of shape ${fmtShape(shape)} given ${data.length} elements`);
    const v = new Value(shape, dataType);
    v.host = dataType === DataType.FLOAT && !(data instanceof Float32Array) ? Float32Array.from(data) : data;
    return v;
  }

  static fromDevice(shape: readonly number[], t: Tensor, layout: Layout = "onnx"): Value {
    const v = new Value(shape, DataType.FLOAT);
    v.dev = t;
    v.layout = layout;
    return v;
  }

  /** Frees every device tensor of the value (host data is left to the garbage collector). */
  dispose(): void {
    this.dev?.dispose();
    for (const t of this.derived.values()) t.dispose();
    this.derived.clear();
    this.dev = undefined;
  }
}

/** The device shape of an ONNX shape in a layout. */
export function deviceShape(shape: readonly number[], layout: Layout): number[] {
  if (layout === "onnx") return [...shape];
  if (shape.length !== 4) fail("onnx", `only rank-4 values can be NHWC, got ${fmtShape(shape)}`);
  return [shape[0]!, shape[2]!, shape[3]!, shape[1]!];
}

/** What an op implementation gets: the engine, its node and access to values in any form. */
export class RunContext {
  constructor(
    readonly engine: Engine,
    /** The opset version of the default ONNX domain. */
    readonly opset: number,
  ) {}

  /** `node "name" (OpType)` prefix for errors; set by the executor before each node runs. */
  where = "onnx";

  fail(message: string): never {
    fail(this.where, message);
  }

  /** The value's data on the host in ONNX row-major order (downloaded and cached if needed). */
  host(v: Value): HostData {
    if (v.host) return v.host;
    if (!v.dev) this.fail(`value has no data`);
    const data = v.dev.data.slice();
    v.host = v.layout === "nhwc" ? permute(data, deviceShape(v.shape, "nhwc"), NHWC_TO_NCHW) : data;
    return v.host;
  }

  /** Host data as plain integers (shapes, axes, indices). */
  ints(v: Value): number[] {
    return Array.from(this.host(v), (x) => Math.trunc(x));
  }

  /** The value as a float32 device tensor in `layout`, uploaded / converted once and cached. */
  tensor(v: Value, layout: Layout = "onnx"): Tensor {
    if (!isFloatType(v.dataType)) this.fail(`expects a float tensor, got ${dataTypeName(v.dataType)} of shape ${fmtShape(v.shape)}`);
    if (layout === "nhwc" && v.rank !== 4) this.fail(`expects a rank-4 (NCHW) tensor, got shape ${fmtShape(v.shape)}`);
    if (v.dev && v.layout === layout) return v.dev;
    const cached = v.derived.get(layout);
    if (cached) return cached;
    let data = this.host(v);
    if (layout === "nhwc") data = permute(data, v.shape, NCHW_TO_NHWC);
    const t = this.engine.tensor(deviceShape(v.shape, layout), data);
    // a big constant's ONNX-order upload replaces its host copy (host() downloads it again if ever needed);
    // other device forms of constants live among `derived`; a run value's first one becomes its dev
    if (v.constant && !v.dev && layout === "onnx" && v.size >= BIG_CONSTANT) {
      v.dev = t;
      v.layout = "onnx";
      v.host = undefined;
    } else if (v.dev || v.constant) v.derived.set(layout, t);
    else {
      v.dev = t;
      v.layout = layout;
    }
    return t;
  }

  /** The value's device tensor in whichever layout it already has (uploading in ONNX order if host-only). */
  anyTensor(v: Value): { t: Tensor; layout: Layout } {
    if (v.dev) return { t: v.dev, layout: v.layout };
    return { t: this.tensor(v, "onnx"), layout: "onnx" };
  }

  /** A device form of `v` derived by `make` (e.g. packed conv weights), cached under `key`. */
  derive(v: Value, key: string, make: () => Tensor): Tensor {
    let t = v.derived.get(key);
    if (!t) {
      t = make();
      v.derived.set(key, t);
    }
    return t;
  }

  /** A view of `t` with another shape of the same size (not owned: never dispose it). */
  view(t: Tensor, shape: readonly number[]): Tensor {
    if (sizeOfDims(shape) !== t.size) this.fail(`cannot view ${fmtShape(t.shape)} as ${fmtShape(shape)}`);
    return new Tensor(t.engine, t.ptr, [...shape], t.dtype);
  }
}
