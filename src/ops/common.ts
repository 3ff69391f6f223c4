// Argument checking and output allocation shared by every op wrapper.
import type { Engine } from "../engine.js";
import { fail, fmtShape, fmtValue } from "../errors.js";
import type { DType, Shape, Tensor } from "../tensor.js";

export interface TensorSpec {
  rank?: number;
  dtype?: DType;
}

/** Checks that `t` is a live tensor of the expected rank/dtype; `arg` names it in the error. */
export function checkTensor(op: string, arg: string, t: Tensor, spec: TensorSpec = {}): Tensor {
  if (!t || typeof t !== "object" || !("ptr" in t)) fail(op, `${arg} must be a Tensor, got ${typeof t}`);
  t.assertLive(`${op}: ${arg}`);
  if (spec.rank !== undefined && t.rank !== spec.rank) {
    fail(op, `${arg} must have rank ${spec.rank}, got shape ${fmtShape(t.shape)}`);
  }
  const dtype = spec.dtype ?? "f32";
  if (t.dtype !== dtype) fail(op, `${arg} must be ${dtype}, got ${t.dtype}`);
  return t;
}

export interface ShapeArgSpec {
  /** The rank: exact, or an inclusive range [lo, hi]. Default: any rank (0 included). */
  rank?: number | readonly [number, number];
  /** The smallest dimension allowed: 1 (default), or 0 where empty tensors are fine. */
  min?: number;
}

/**
 * Checks a shape passed as an argument (xShape, wShape, an engine.tensor shape...): a plain array
 * of integers >= spec.min with the given rank. Anything else fails naming the op and the argument,
 * e.g. `conv2dBackwardInput: xShape must be an array of 4 integers >= 1, got {"pads":1}`.
 */
export function checkShapeArg(op: string, arg: string, shape: unknown, spec: ShapeArgSpec = {}): Shape {
  const min = spec.min ?? 1;
  const [lo, hi] = spec.rank === undefined ? [0, Infinity] : typeof spec.rank === "number" ? [spec.rank, spec.rank] : spec.rank;
  let ok = Array.isArray(shape) && shape.length >= lo && shape.length <= hi;
  // a for loop, not every(): every() skips holes ([1, , 3])
  for (let i = 0; ok && i < (shape as unknown[]).length; i++) {
    const d = (shape as unknown[])[i];
    ok = Number.isInteger(d) && (d as number) >= min;
  }
  if (!ok) {
    const count = lo === hi ? `${lo} ` : hi === Infinity ? (lo > 0 ? `${lo} or more ` : "") : `${lo} to ${hi} `;
    const isTensor = typeof shape === "object" && shape !== null && "ptr" in shape && "shape" in shape;
    fail(
      op,
      `${arg} must be an array of ${count}integer${lo === 1 && hi === 1 ? "" : "s"} >= ${min}, got ${fmtValue(shape)}${isTensor ? " (pass its .shape)" : ""}`,
    );
  }
  return shape as Shape;
}

/** An options argument: undefined (the defaults) or a plain object; returns it or {}. */
export function checkOptions<T extends object>(op: string, arg: string, options: T | undefined): T {
  if (options === undefined) return {} as T;
  if (options === null || typeof options !== "object" || Array.isArray(options) || "ptr" in options) {
    fail(op, `${arg} must be an object, got ${fmtValue(options)}`);
  }
  return options;
}

/** Checks that `t` has exactly `shape`. */
export function checkShape(op: string, arg: string, t: Tensor, shape: Shape): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    fail(op, `${arg} must have shape ${fmtShape(shape)}, got ${fmtShape(t.shape)}`);
  }
}

/** The engine all operands belong to; mixing engines is an error (their memories differ). */
export function engineOf(op: string, ...tensors: (Tensor | undefined | null)[]): Engine {
  let engine: Engine | undefined;
  for (const t of tensors) {
    if (!t) continue;
    if (engine && t.engine !== engine) fail(op, "operands belong to different engines");
    engine = t.engine;
  }
  if (!engine) fail(op, "no tensor operands");
  return engine;
}

/** The output tensor: `out` if given (checked against `shape`), else a new one. */
export function outputTensor(op: string, engine: Engine, shape: Shape, out?: Tensor, dtype: DType = "f32"): Tensor {
  if (out) {
    checkTensor(op, "out", out, { dtype });
    if (out.engine !== engine) fail(op, "out belongs to a different engine");
    checkShape(op, "out", out, shape);
    return out;
  }
  return engine.empty(shape, dtype, `${op} output`);
}

/**
 * A gradient buffer that the backward kernel ACCUMULATES into: `given` if the caller passed one
 * (its contents are added to, as when a tensor feeds two consumers), else a new zeroed tensor.
 */
export function gradTensor(op: string, arg: string, engine: Engine, shape: Shape, given?: Tensor): Tensor {
  if (given) {
    checkTensor(op, arg, given);
    if (given.engine !== engine) fail(op, `${arg} belongs to a different engine`);
    checkShape(op, arg, given, shape);
    return given;
  }
  return engine.zeros(shape);
}

/** Runs `run` with a scratch f32 block of `floats` from e's heap (named `what` in errors), released after. */
export function withWorkspace(e: Engine, floats: number, what: string, run: (ptr: number) => void): void {
  const ws = e.empty([floats], "f32", what);
  try {
    run(ws.ptr);
  } finally {
    ws.dispose();
  }
}
