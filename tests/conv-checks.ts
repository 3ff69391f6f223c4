// Checks shared by the convolution test files (conv2d, the few-channel and the Winograd kernels).
import { expect } from "vitest";
import {
  conv2d,
  conv2dBackward,
  conv2dBackwardFilter,
  conv2dBackwardInput,
  conv2dOutputShape,
  type Conv2dOptions,
  convTranspose2d,
  type Engine,
} from "../src/index.js";
import { type ConvPass, convGeometry, convTarget, supportingConvAlgorithms } from "../src/ops/conv2d_algorithms.js";
import { dot, expectClose, expectGradientMatches, uniform } from "./harness.js";
import { conv2dBackwardRef, conv2dRef, convTranspose2dRef, type RefParams, type Shape4 } from "./reference/conv2d.js";

const size = (s: readonly number[]) => s.reduce((a, d) => a * d, 1);

/** conv2dBackward's dx and dw against finite differences of sum(conv2d(x, w) * r), r fixed; seeds seed..seed+2. */
export function expectConvGradientsMatchFiniteDifferences(e: Engine, xs: Shape4, ws: Shape4, opts: Conv2dOptions, seed: number): void {
  e.tidy(() => {
    const x = e.tensor(xs, uniform(size(xs), seed)),
      w = e.tensor(ws, uniform(size(ws), seed + 1));
    const ys = conv2dOutputShape(x.shape, w.shape, opts);
    const r = uniform(size(ys), seed + 2);
    const { dx, dw } = conv2dBackward(e.tensor(ys, r), x, w, opts);
    const loss = () => e.tidy(() => dot(conv2d(x, w, null, opts).data, r));
    expectGradientMatches(x, dx.data, loss, { label: "dx" });
    expectGradientMatches(w, dw.data, loss, { label: "dw" });
  });
}

/** convTranspose2d (stride 1: its forward is the conv's input gradient) with `pads` to an [OH, OW] output, vs the float64 reference. */
export function expectConvTransposeMatchesReference(
  e: Engine,
  xs: Shape4,
  ws: Shape4,
  pads: [number, number, number, number],
  out: [number, number],
  seed: number,
  tol: { rtol: number; atol: number },
  algorithm?: string,
): void {
  if (algorithm !== undefined) noteRun(e, algorithm, "backward_input");
  e.tidy(() => {
    const xv = uniform(size(xs), seed),
      wv = uniform(size(ws), seed + 1);
    const ref = convTranspose2dRef(xv, xs, wv, ws, null, { strides: [1, 1], pads, dilations: [1, 1], groups: 1 }, out);
    const y = convTranspose2d(e.tensor(xs, xv), e.tensor(ws, wv), null, { pads, algorithm });
    expect(y.shape).toEqual(ref.shape);
    expectClose(y.data, ref.y, { ...tol, label: "convTranspose2d y" });
  });
}

/** Algorithm names by pass, to force instead of the choice by shape. */
export type ForcedAlgorithms = Partial<Record<ConvPass, string>>;

/** (algorithm, pass) pairs some check ran, per build: the files' coverage tests read it. */
export const ALGORITHMS_RUN = new Map<string, Set<string>>();
const noteRun = (e: Engine, name: string, pass: ConvPass) => {
  let set = ALGORITHMS_RUN.get(e.build);
  if (!set) ALGORITHMS_RUN.set(e.build, (set = new Set()));
  set.add(`${name} ${pass}`);
};

/**
 * Every algorithm of the registry that supports a pass of this conv, forced by name, against the
 * float64 reference: forward into an output filled with garbage (it must be overwritten),
 * backward_input and backward_filter accumulated onto non-zero starting values. Returns the
 * algorithms run, by pass. Seeds seed..seed+3.
 */
export function expectEveryAlgorithmMatchesReference(
  e: Engine,
  label: string,
  xs: Shape4,
  ws: Shape4,
  options: Conv2dOptions,
  ref: RefParams,
  seed: number,
  tol: { rtol: number; atol: number },
): Record<ConvPass, string[]> {
  return e.tidy(() => {
    const g = convGeometry("test", xs, ws, options),
      target = convTarget(e);
    const xv = uniform(size(xs), seed),
      wv = uniform(size(ws), seed + 1),
      bv = uniform(ws[3], seed + 2);
    const x = e.tensor(xs, xv),
      w = e.tensor(ws, wv),
      b = e.tensor([ws[3]], bv);
    const r = conv2dRef(xv, xs, wv, ws, bv, ref);
    const dyv = uniform(r.y.length, seed + 3);
    const gr = conv2dBackwardRef(dyv, xv, xs, wv, ws, ref);
    const dy = e.tensor(r.shape, dyv);
    const start = 0.5;
    const ran = { forward: [] as string[], backward_input: [] as string[], backward_filter: [] as string[] };
    for (const pass of ["forward", "backward_input", "backward_filter"] as const) {
      for (const alg of supportingConvAlgorithms(pass, g, target)) {
        const opts = { ...options, algorithm: alg.name },
          what = `${label} ${alg.name} ${pass}`;
        e.tidy(() => {
          if (pass === "forward") {
            const out = e.tensor(r.shape, new Float32Array(r.y.length).fill(123));
            expectClose(conv2d(x, w, b, opts, out).data, r.y, { ...tol, label: what });
          } else if (pass === "backward_input") {
            const dx = conv2dBackwardInput(dy, w, xs, opts, e.tensor(xs, new Float32Array(xv.length).fill(start)));
            expectClose(
              dx.data,
              gr.dx.map((v) => v + start),
              { ...tol, label: what },
            );
          } else {
            const dw = conv2dBackwardFilter(dy, x, ws, opts, e.tensor(ws, new Float32Array(wv.length).fill(start)));
            expectClose(
              dw.data,
              gr.dw.map((v) => v + start),
              { ...tol, label: what },
            );
          }
        });
        ran[pass].push(alg.name);
        noteRun(e, alg.name, pass);
      }
    }
    return ran;
  });
}

/**
 * conv2d (into an output filled with garbage: it must be overwritten) and conv2dBackward's dx and dw
 * (accumulated onto non-zero starting values) against the float64 reference; seeds seed..seed+3.
 * `forced` names the algorithm of some passes (checked to be the one that ran: the others by shape).
 */
export function expectConvMatchesReference(
  e: Engine,
  label: string,
  xs: Shape4,
  ws: Shape4,
  options: Conv2dOptions,
  ref: RefParams,
  seed: number,
  tol: { rtol: number; atol: number },
  forced: ForcedAlgorithms = {},
): void {
  for (const [pass, name] of Object.entries(forced)) noteRun(e, name, pass as ConvPass);
  options = { ...options, algorithm: forced };
  e.tidy(() => {
    const xv = uniform(size(xs), seed),
      wv = uniform(size(ws), seed + 1),
      bv = uniform(ws[3], seed + 2);
    const x = e.tensor(xs, xv),
      w = e.tensor(ws, wv),
      b = e.tensor([ws[3]], bv);
    const r = conv2dRef(xv, xs, wv, ws, bv, ref);
    const out = e.tensor(r.shape, new Float32Array(r.y.length).fill(123));
    const y = conv2d(x, w, b, options, out);
    expect(y.shape).toEqual(r.shape);
    expectClose(y.data, r.y, { ...tol, label: `${label} y` });
    const dyv = uniform(r.y.length, seed + 3);
    const g = conv2dBackwardRef(dyv, xv, xs, wv, ws, ref);
    const start = 0.5;
    const grads = { dx: e.tensor(xs, new Float32Array(xv.length).fill(start)), dw: e.tensor(ws, new Float32Array(wv.length).fill(start)) };
    const got = conv2dBackward(e.tensor(r.shape, dyv), x, w, options, grads, false);
    expectClose(
      got.dx.data,
      g.dx.map((v) => v + start),
      { ...tol, label: `${label} dx` },
    );
    expectClose(
      got.dw.data,
      g.dw.map((v) => v + start),
      { ...tol, label: `${label} dw` },
    );
  });
}
