// Argument checking and output allocation shared by every op wrapper.
import type { Engine } from "../engine.js";
import { fail, fmtShape } from "../errors.js";
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
