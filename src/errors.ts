/** Every error simdnet throws on bad input names the op, the argument and the shapes involved. */
export class SimdnetError extends Error {
  override name = "SimdnetError";
}

/** Thrown when linear memory cannot grow to hold a requested buffer. Memory is left as it was. */
export class OutOfMemoryError extends SimdnetError {
  override name = "OutOfMemoryError";
  constructor(
    readonly bytesRequested: number,
    readonly bytesInUse: number,
    readonly bytesLimit: number,
    what: string,
  ) {
    super(
      `out of memory: ${what} needs ${bytesRequested} bytes, ${bytesInUse} bytes are in use ` +
        `and wasm memory cannot grow past ${bytesLimit} bytes`,
    );
  }
}

export const fmtShape = (shape: readonly number[]): string => `[${shape.join(",")}]`;

/** Throws `<op>: <message>` as a SimdnetError. */
export function fail(op: string, message: string): never {
  throw new SimdnetError(`${op}: ${message}`);
}

/** A hyper-parameter that must be a finite integer >= min. */
export function checkInt(op: string, name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    fail(op, `${name} must be an integer >= ${min}, got ${value}`);
  }
  return value;
}

/** A hyper-parameter that must be a finite number. */
export function checkFinite(op: string, name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value)) fail(op, `${name} must be a finite number, got ${value}`);
  return value;
}
