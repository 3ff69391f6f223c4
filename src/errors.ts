/** Every error simdnet throws on bad input names the op, the argument and the shapes involved. */
export class SimdnetError extends Error {
  override name = "SimdnetError";
}

/**
 * Thrown when a requested buffer does not fit: past the engine's memory limit (init option
 * `memoryLimit`), or linear memory cannot grow to hold it. Memory is left as it was.
 */
export class OutOfMemoryError extends SimdnetError {
  override name = "OutOfMemoryError";
  constructor(
    readonly bytesRequested: number,
    readonly bytesInUse: number,
    readonly bytesLimit: number,
    what: string,
    /**
     * "grow": the memory's maximum (or the runtime) stopped it; "budget": the engine's memoryLimit;
     * "plan": a session's maxPlanBytes.
     */
    readonly limitKind: "grow" | "budget" | "plan" = "grow",
  ) {
    super(
      `out of memory: ${what} needs ${bytesRequested} bytes, ${bytesInUse} bytes are in use ` +
        (limitKind === "budget"
          ? `and the engine's memory limit is ${bytesLimit} bytes (init option memoryLimit)`
          : limitKind === "plan"
            ? `and the session's plans may use at most ${bytesLimit} bytes (option maxPlanBytes)`
            : `and wasm memory cannot grow past ${bytesLimit} bytes`),
    );
  }
}

/**
 * Any value as short, readable text for an error message: numbers as written (NaN, -1.5), strings
 * quoted, arrays element by element, tensors by their shape, other objects as (clipped) JSON.
 * Never throws (circular objects, symbols, revoked proxies...): it runs while reporting an error.
 */
export function fmtValue(v: unknown, depth = 0): string {
  try {
    switch (typeof v) {
      case "string":
        return clip(JSON.stringify(v));
      case "symbol":
        return v.toString();
      case "function":
        return `a function${v.name ? ` ${v.name}` : ""}`;
      case "object":
        break;
      default:
        return String(v); // number, boolean, bigint, undefined
    }
    if (v === null) return "null";
    if ("ptr" in v && "engine" in v && "shape" in v) return `a Tensor of shape ${fmtValue(v.shape, depth + 1)}`;
    if (ArrayBuffer.isView(v)) return `${v.constructor.name} of ${"length" in v ? `length ${v.length}` : `${v.byteLength} bytes`}`;
    if (Array.isArray(v)) {
      if (depth > 2) return "[...]";
      const items = v.slice(0, MAX_ITEMS);
      // a for loop, not map: map skips holes, which must show (as undefined) in a bad shape
      const parts: string[] = [];
      for (let i = 0; i < items.length; i++) parts.push(fmtValue(items[i], depth + 1));
      if (v.length > MAX_ITEMS) parts.push(`... (${v.length} entries)`);
      return clip(`[${parts.join(",")}]`);
    }
    return clip(JSON.stringify(v) ?? Object.prototype.toString.call(v));
  } catch {
    try {
      return Object.prototype.toString.call(v);
    } catch {
      return `a ${typeof v}`;
    }
  }
}

const MAX_ITEMS = 32;
const clip = (s: string): string => (s.length > 200 ? `${s.slice(0, 200)}...` : s);

/** A shape for an error message, e.g. [2,28,28,1]; anything else as fmtValue shows it (never throws). */
export const fmtShape = (shape: unknown): string => fmtValue(shape);

/** Throws `<op>: <message>` as a SimdnetError. */
export function fail(op: string, message: string): never {
  throw new SimdnetError(`${op}: ${message}`);
}

/** A hyper-parameter that must be a finite integer >= min. */
export function checkInt(op: string, name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    fail(op, `${name} must be an integer >= ${min}, got ${fmtValue(value)}`);
  }
  return value;
}

/** A hyper-parameter that must be a finite number. */
export function checkFinite(op: string, name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value)) fail(op, `${name} must be a finite number, got ${fmtValue(value)}`);
  return value;
}
