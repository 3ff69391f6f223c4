// Values of the graph runtime: ONNX element types as they live on the device, host tensors, and
// the layout (axis order) a value has in memory.
import { fail, fmtShape } from "../errors.js";
import { DataType, dataTypeName } from "../onnx/onnx-proto.js";

/**
 * Device element kinds. Every device element is 4 bytes: float types (FLOAT, FLOAT16, DOUBLE,
 * BFLOAT16) are computed as f32; integer and bool types as i32 (int64 values saturate to the i32
 * range: they index and shape tensors that fit in wasm32 memory).
 */
export type Elem = "f32" | "i32";

const BFLOAT16 = 16;

/** The device element kind of an ONNX element type; throws for types the runtime cannot hold. */
export function elemOf(dataType: number, where = "onnx"): Elem {
  switch (dataType) {
    case DataType.FLOAT:
    case DataType.FLOAT16:
    case DataType.DOUBLE:
    case BFLOAT16:
      return "f32";
    case DataType.INT64:
    case DataType.INT32:
    case DataType.INT16:
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.UINT16:
    case DataType.UINT32:
    case DataType.UINT64:
    case DataType.BOOL:
      return "i32";
    default:
      return fail(where, `element type ${dataTypeName(dataType)} is not supported`);
  }
}

export const isFloat = (dataType: number): boolean => elemOf(dataType) === "f32";

/** A tensor on the host in ONNX row-major order: constants, plan-time values, session inputs. */
export interface HostTensor {
  readonly dataType: number;
  readonly dims: readonly number[];
  /** Float32Array for float types, Int32Array for integer and bool types (see Elem). */
  readonly data: Float32Array | Int32Array;
}

export const sizeOfDims = (dims: readonly number[]): number => {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
};

/** Saturates to the i32 range (int64 indices and shapes; INT64_MAX as "to the end" stays "to the end"). */
export const toI32 = (v: number): number => (v >= 2147483647 ? 2147483647 : v <= -2147483648 ? -2147483648 : Math.trunc(v));

/** A host tensor of `dataType` from any numbers (converted to its element kind). */
export function hostTensor(dataType: number, dims: readonly number[], values: ArrayLike<number>): HostTensor {
  const n = sizeOfDims(dims);
  if (values.length !== n) fail("onnx", `a tensor of shape ${fmtShape(dims)} needs ${n} values, got ${values.length}`);
  if (elemOf(dataType) === "f32") return { dataType, dims: [...dims], data: values instanceof Float32Array ? values : Float32Array.from(values) };
  const data = new Int32Array(n);
  for (let i = 0; i < n; i++) data[i] = toI32(values[i]!);
  return { dataType, dims: [...dims], data };
}

/**
 * The value's numbers as plain integers (shapes, axes, indices, counts). Fails on a float tensor:
 * ONNX types these inputs int64 (or int32), and truncating 1.5 or NaN would plan a wrong shape.
 */
export const intsOf = (t: HostTensor): number[] => {
  if (elemOf(t.dataType) === "f32") fail("onnx", `expected an integer tensor (a shape, axes, indices or counts), got ${dataTypeName(t.dataType)}`);
  return Array.from(t.data);
};

// ---------------------------------------------------------------------------------------------
// layouts

/**
 * A value's axis order in memory: physical axis i holds logical (ONNX) axis perm[i]. The identity
 * is ONNX's row-major order; [0, 2, 3, 1] is NHWC for an NCHW value, the order the image kernels
 * (conv, pooling, batch norm) use. A Transpose node only changes the perm of its output.
 */
export type Perm = readonly number[];

export const identityPerm = (rank: number): number[] => Array.from({ length: rank }, (_, i) => i);
export const NHWC: Perm = [0, 2, 3, 1];

export const isIdentity = (p: Perm): boolean => p.every((a, i) => a === i);

/** The physical shape of a value of logical `shape` stored in `perm` order. */
export const physicalDims = (shape: readonly number[], perm: Perm): number[] => perm.map((a) => shape[a]!);

/**
 * Whether two perms put the same bytes in the same places for `shape`: axes of extent 1 may sit
 * anywhere, so [N, C, 1, 1] is the same in NCHW and NHWC.
 */
export function samePhysical(a: Perm, b: Perm, shape: readonly number[]): boolean {
  const fa = a.filter((ax) => shape[ax] !== 1),
    fb = b.filter((ax) => shape[ax] !== 1);
  return fa.length === fb.length && fa.every((ax, i) => ax === fb[i]);
}

/** Element strides along each LOGICAL axis of a value stored in `perm` order. */
export function logicalStrides(shape: readonly number[], perm: Perm): number[] {
  const phys = physicalDims(shape, perm);
  const s = new Array<number>(shape.length).fill(0);
  let acc = 1;
  for (let i = phys.length - 1; i >= 0; i--) {
    s[perm[i]!] = acc;
    acc *= phys[i]!;
  }
  return s;
}

/** The inverse permutation. */
export function invertPerm(p: Perm): number[] {
  const inv = new Array<number>(p.length);
  p.forEach((a, i) => (inv[a] = i));
  return inv;
}

export const fmtPerm = (p: Perm): string => (isIdentity(p) ? "onnx order" : p.length === 4 && p.join() === "0,2,3,1" ? "NHWC" : `perm [${p.join(",")}]`);
