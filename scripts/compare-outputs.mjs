// The corpus rule for comparing a model's outputs with onnxruntime's, shared by the corpus tests
// (tests/corpus/corpus.ts) and the PyTorch-export sweep (scripts/torch-sweep.mjs): plain JS so that
// a node script can import it too.

/** The default tolerance: a fraction of each output's largest |value|. */
export const TOLERANCE = 1e-3;

/**
 * Compares every reference output: same dims, and |got - want| <= tolerance * max |want| element-wise
 * (NaN fails). Returns the worst output and the first failure, if any.
 */
export function compareOutputs(got, want, tolerance = TOLERANCE) {
  let worst = { output: "", relErr: 0 };
  let failure;
  for (const [name, w] of Object.entries(want)) {
    const g = got[name];
    if (!g) {
      failure ??= `output ${name} is missing`;
      continue;
    }
    if (g.dims.length !== w.dims.length || g.dims.some((d, i) => d !== w.dims[i])) {
      failure ??= `output ${name} has dims [${g.dims}], onnxruntime [${w.dims}]`;
      continue;
    }
    let scale = 0;
    for (let i = 0; i < w.data.length; i++) scale = Math.max(scale, Math.abs(Number(w.data[i])));
    let err = 0;
    let at = -1;
    for (let i = 0; i < w.data.length; i++) {
      const e = Math.abs(Number(g.data[i]) - Number(w.data[i]));
      if (!(e <= err)) {
        err = Number.isNaN(e) ? Infinity : e;
        at = i;
      }
    }
    const relErr = scale > 0 ? err / scale : err;
    if (relErr >= worst.relErr) worst = { output: name, relErr };
    if (!(relErr <= tolerance)) {
      failure ??= `output ${name} element ${at}: ${g.data[at]} vs onnxruntime ${w.data[at]} (max |error| / max |output| = ${relErr.toExponential(2)} > ${tolerance})`;
    }
  }
  return { worst, failure };
}
