// The single-pass gradients (conv2dBackwardInput / conv2dBackwardFilter / biasBackward) equal the
// corresponding parts of conv2dBackward, for shapes that take each conv path (small-channel,
// blocked, general, pointwise GEMM, depthwise); and a Model trained without input gradients
// computes the same parameter gradients.
import { describe, expect, it } from "vitest";
import {
  biasBackward,
  type Conv2dOptions,
  conv2dBackward,
  conv2dBackwardFilter,
  conv2dBackwardInput,
  conv2dOutputShape,
  createModel,
  lenet5,
  SimdnetError,
} from "../src/index.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, uniform } from "./harness.js";

const CASES: { name: string; x: number[]; w: number[]; options: Conv2dOptions }[] = [
  { name: "few channels (LeNet conv1)", x: [3, 12, 12, 1], w: [5, 5, 1, 6], options: { pads: 2 } },
  { name: "wide channels (blocked forward path)", x: [1, 6, 7, 32], w: [3, 3, 32, 16], options: { pads: 1 } },
  { name: "strided, asymmetric pads", x: [2, 9, 8, 5], w: [3, 3, 5, 9], options: { strides: 2, pads: [1, 0, 2, 1] } },
  { name: "pointwise (GEMM)", x: [2, 4, 5, 9], w: [1, 1, 9, 17], options: {} },
  { name: "depthwise", x: [2, 7, 6, 9], w: [3, 3, 1, 9], options: { groups: 9, pads: 1 } },
];

describe.each(BUILDS_UNDER_TEST)("single-pass conv gradients, %s build", (build) => {
  it.each(CASES.map((c) => [c.name, c] as const))("equal conv2dBackward's parts: %s", async (_name, c) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.tensor(
        c.x,
        uniform(
          c.x.reduce((a, b) => a * b),
          1,
        ),
      );
      const w = e.tensor(
        c.w,
        uniform(
          c.w.reduce((a, b) => a * b),
          2,
        ),
      );
      const yShape = conv2dOutputShape(c.x, c.w, c.options);
      const dy = e.tensor(
        yShape,
        uniform(
          yShape.reduce((a, b) => a * b),
          3,
        ),
      );
      const full = conv2dBackward(dy, x, w, c.options);
      // accumulate onto 0.25 to check the += contract too
      const dx = conv2dBackwardInput(dy, w, x.shape, c.options, e.tensor(c.x, new Float32Array(x.size).fill(0.25)));
      const dw = conv2dBackwardFilter(dy, x, w.shape, c.options, e.tensor(c.w, new Float32Array(w.size).fill(0.25)));
      const db = biasBackward(dy);
      expectClose(
        dx.data,
        full.dx.data.map((v) => v + 0.25),
        { rtol: 1e-5, atol: 1e-5, label: "dx" },
      );
      expectClose(
        dw.data,
        full.dw.data.map((v) => v + 0.25),
        { rtol: 1e-5, atol: 1e-5, label: "dw" },
      );
      expectClose(db.data, full.db!.data, { rtol: 1e-6, atol: 1e-6, label: "db" });
    });
  });

  it("names the op and the shapes on bad input", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const w = e.zeros([3, 3, 4, 8]),
        dy = e.zeros([1, 5, 5, 8]);
      expect(() => conv2dBackwardInput(dy, w, [1, 5, 5, 3], { pads: 1 })).toThrow(SimdnetError);
      expect(() => conv2dBackwardInput(dy, w, [5, 5, 4], { pads: 1 })).toThrow("conv2dBackwardInput: xShape must be an array of 4 integers >= 1, got [5,5,4]");
      expect(() => conv2dBackwardFilter(e.zeros([1, 4, 4, 8]), e.zeros([1, 5, 5, 4]), [3, 3, 4, 8], { pads: 1 })).toThrow(
        /conv2dBackwardFilter: dy must have shape \[1,5,5,8\], got \[1,4,4,8\]/,
      );
    });
  });

  it("a model trained without input gradients gets the same parameter gradients", async () => {
    const e = await engineFor(build);
    const model = createModel(e, lenet5(), { seed: 5, batch: 2 });
    const x = uniform(2 * 28 * 28, 9, 0, 1),
      dOut = uniform(2 * 10, 10);
    model.forward(x, { training: true });
    model.zeroGrads();
    const dInput = model.backward(dOut).toArray();
    const withInput = model.parameters().map((p) => p.grad.toArray());
    expect(dInput.some((v) => v !== 0)).toBe(true);
    model.zeroGrads();
    const skipped = model.backward(dOut, { inputGradient: false }).toArray();
    expect(skipped.every((v) => v === 0)).toBe(true);
    model.parameters().forEach((p, i) => expect(p.grad.toArray(), p.name).toEqual(withInput[i]));
    model.dispose();
  });
});
