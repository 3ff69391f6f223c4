// Checks shared by the convolution test files (conv2d, the few-channel and the Winograd kernels).
import { expect } from "vitest";
import { conv2d, conv2dBackward, conv2dOutputShape, type Conv2dOptions, convTranspose2d, type Engine } from "../src/index.js";
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
): void {
  e.tidy(() => {
    const xv = uniform(size(xs), seed),
      wv = uniform(size(ws), seed + 1);
    const ref = convTranspose2dRef(xv, xs, wv, ws, null, { strides: [1, 1], pads, dilations: [1, 1], groups: 1 }, out);
    const y = convTranspose2d(e.tensor(xs, xv), e.tensor(ws, wv), null, { pads });
    expect(y.shape).toEqual(ref.shape);
    expectClose(y.data, ref.y, { ...tol, label: "convTranspose2d y" });
  });
}

/**
 * conv2d (into an output filled with garbage: it must be overwritten) and conv2dBackward's dx and dw
 * (accumulated onto non-zero starting values) against the float64 reference; seeds seed..seed+3.
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
): void {
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
