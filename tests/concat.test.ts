import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { concat, concatBackward, SimdnetError } from "../src/index.js";
import { BUILDS_UNDER_TEST, dot, engineFor, expectClose, expectGradientMatches, ONNX_DIR, uniform } from "./harness.js";
import { concatRef, decodeTensorProto } from "./reference/norm.js";

/** ONNX's own conformance cases, when the shared data is present; the axis is in each case's name. */
const ONNX_NODE = new URL("node/", ONNX_DIR);
const ONNX_CASES = [
  "2d_axis_0",
  "2d_axis_1",
  "2d_axis_negative_1",
  "2d_axis_negative_2",
  "3d_axis_0",
  "3d_axis_1",
  "3d_axis_2",
  "3d_axis_negative_1",
  "3d_axis_negative_2",
  "3d_axis_negative_3",
].map((c) => `test_concat_${c}`);
const hasOnnx = existsSync(new URL(`${ONNX_CASES[0]}/test_data_set_0/output_0.pb`, ONNX_NODE));
const onnxData = (path: string) => decodeTensorProto(readFileSync(new URL(path, ONNX_NODE)));

/** Channel splits around the 4-lane tile (and the 16-float unrolled copy): Inception-style concat. */
const CHANNEL_SPLITS = [[1], [1, 3], [4, 5, 8], [9, 16, 17], [3, 1, 4, 1, 5], [17, 33]];

const sizeOf = (s: number[]) => s.reduce((a, b) => a * b, 1);

describe.each(BUILDS_UNDER_TEST)("concat, %s build", (build) => {
  it.each(CHANNEL_SPLITS.map((cs) => [cs.join("+"), cs] as const))("channel concat of NHWC [2,3,5,C_k] matches the reference, C=%s", async (_, cs) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const shapes = cs.map((c) => [2, 3, 5, c]);
      const vals = shapes.map((s, k) => uniform(sizeOf(s), 10 * k + cs[k]!));
      const xs = shapes.map((s, k) => e.tensor(s, vals[k]!));
      const total = cs.reduce((a, b) => a + b, 0);
      const y = concat(xs);
      expect(y.shape).toEqual([2, 3, 5, total]);
      expectClose(y.data, concatRef(vals, shapes, 3), { rtol: 0, atol: 0, label: "y" });
      // backward: split, accumulating onto given gradients
      const dyv = uniform(y.size, 99);
      const grads = shapes.map((s) => e.tensor(s, new Float32Array(sizeOf(s)).fill(2)));
      const got = concatBackward(e.tensor(y.shape, dyv), xs, -1, grads);
      got.forEach((g, k) => {
        expect(g).toBe(grads[k]);
        // the reference gradient of input k: dy's slice, found by concatenating one-hot-marked inputs
        const marks = shapes.map((s, j) => new Float32Array(sizeOf(s)).fill(j === k ? 1 : 0));
        const mask = concatRef(marks, shapes, 3);
        const slice = dyv.filter((_, i) => mask[i] === 1);
        expectClose(
          g.data,
          slice.map((v) => v + 2),
          { rtol: 0, atol: 1e-6, label: `dx${k}` },
        );
      });
    });
  });

  it.each([0, 1, 2, 3, -1, -2, -3, -4])("concat along every axis of rank-4 inputs, axis=%i", async (axis) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const base = [2, 3, 5, 7];
      const ax = axis < 0 ? axis + 4 : axis;
      const shapes = [1, 4, 2].map((d) => base.map((b, i) => (i === ax ? d : b)));
      const vals = shapes.map((s, k) => uniform(sizeOf(s), 5 * k + ax));
      const xs = shapes.map((s, k) => e.tensor(s, vals[k]!));
      const y = concat(xs, axis);
      expect(y.shape).toEqual(base.map((b, i) => (i === ax ? 7 : b)));
      expectClose(y.data, concatRef(vals, shapes, ax), { rtol: 0, atol: 0 });
      // concatBackward of y itself gives back the inputs (from shapes this time, new zeroed grads)
      const parts = concatBackward(y, shapes, axis);
      parts.forEach((p, k) => expectClose(p.data, vals[k]!, { rtol: 0, atol: 0, label: `part ${k}` }));
    });
  });

  it("into a given out tensor, and rank-1 / rank-2 inputs", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const a = uniform(5, 1),
        b = uniform(6, 2);
      const out = e.zeros([11]);
      expect(concat([e.tensor([5], a), e.tensor([6], b)], 0, out)).toBe(out);
      expectClose(out.data, [...a, ...b], { rtol: 0, atol: 0 });
      const m = uniform(6, 3),
        n = uniform(9, 4);
      expectClose(
        concat([e.tensor([3, 2], m), e.tensor([3, 3], n)], 1).data,
        concatRef(
          [m, n],
          [
            [3, 2],
            [3, 3],
          ],
          1,
        ),
        { rtol: 0, atol: 0 },
      );
    });
  });

  it("backward matches finite differences", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const xs = [e.tensor([2, 2, 3, 3], uniform(36, 1)), e.tensor([2, 2, 3, 5], uniform(60, 2))];
      const w = uniform(96, 3);
      const grads = concatBackward(e.tensor([2, 2, 3, 8], w), xs, 3);
      const loss = () => e.tidy(() => dot(concat(xs, 3).data, w));
      grads.forEach((g, k) => expectGradientMatches(xs[k]!, g.data, loss, { label: `dx${k}` }));
    });
  });

  it.skipIf(!hasOnnx).each(ONNX_CASES)("matches ONNX's conformance case %s", async (name) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const axis = Number(name.replace(/.*_axis_/, "").replace("negative_", "-"));
      const dir = `${name}/test_data_set_0/`;
      const xs = [0, 1].map((k) => onnxData(`${dir}input_${k}.pb`)).map((t) => e.tensor(t.dims, t.data));
      const expected = onnxData(dir + "output_0.pb");
      const y = concat(xs, axis);
      expect(y.shape).toEqual(expected.dims);
      expectClose(y.data, expected.data, { rtol: 0, atol: 0 });
    });
  });

  it("rejects bad arguments with messages naming op, input and shapes", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const a = e.zeros([2, 3, 3, 4]),
        b = e.zeros([2, 3, 2, 5]),
        c = e.zeros([2, 3, 4]);
      expect(() => concat([a, b])).toThrow(SimdnetError);
      expect(() => concat([a, b])).toThrow("concat: xs[1] has shape [2,3,2,5] but xs[0] has [2,3,3,4]: they must agree off axis 3 (dim 2 differs)");
      expect(() => concat([a, c])).toThrow("concat: xs[1] has shape [2,3,4] (rank 3) but xs[0] has [2,3,3,4] (rank 4)");
      expect(() => concat([a, a], 4)).toThrow("concat: axis must be an integer in [-4, 3] for rank-4 inputs, got 4");
      expect(() => concat([a, a], -5)).toThrow("concat: axis must be an integer in [-4, 3]");
      expect(() => concat([])).toThrow("concat: xs must hold at least one input");
      expect(() => concat([a, a], -1, e.zeros([2, 3, 3, 4]))).toThrow("concat: out must have shape [2,3,3,8], got [2,3,3,4]");
      expect(() => concat([a, a], -1, a)).toThrow("concat: out must have shape");
      const y = concat([a, a]);
      expect(() =>
        concatBackward(
          y,
          [
            [2, 3, 3, 4],
            [2, 3, 3, 5],
          ],
          -1,
        ),
      ).toThrow("concatBackward: dy has shape [2,3,3,8] but the inputs concatenate to [2,3,3,9] on axis 3");
      expect(() => concatBackward(y, [a, b], -1)).toThrow("concatBackward: inputs[1] has shape [2,3,2,5] but inputs[0] has [2,3,3,4]");
      expect(() => concatBackward(y, [a, a], -1, [e.zeros([2, 3, 3, 4])])).toThrow(
        "concatBackward: grads must be an array with one entry per input (2), got 1",
      );
      expect(() => concatBackward(y, [a, a], -1, [undefined, e.zeros([4])])).toThrow("concatBackward: grads[1] must have shape [2,3,3,4], got [4]");
    });
  });
});
