// Seeded weight initialisation: mulberry32 uniform generator + Box-Muller normals. The same seed
// gives the same weights in every build and runtime (plain float64 JS arithmetic).
import type { InitKind } from "./spec.js";

export { mulberry32 } from "../random.js";

/** Standard normal numbers from a uniform generator (Box-Muller, both values of each pair used). */
export function normalGenerator(uniform: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = Math.max(uniform(), 1e-300);
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** Standard deviation of the normal init: He sqrt(2/fanIn), Xavier/Glorot sqrt(2/(fanIn+fanOut)). */
export function initStd(kind: "he" | "xavier", fanIn: number, fanOut: number): number {
  return kind === "he" ? Math.sqrt(2 / fanIn) : Math.sqrt(2 / (fanIn + fanOut));
}

/** Fills `out` per `kind`; normal draws come from `normal`. */
export function fillInit(out: Float32Array, kind: InitKind, fanIn: number, fanOut: number, normal: () => number): void {
  if (kind === "zeros") out.fill(0);
  else if (kind === "ones") out.fill(1);
  else {
    const std = initStd(kind, fanIn, fanOut);
    for (let i = 0; i < out.length; i++) out[i] = std * normal();
  }
}
