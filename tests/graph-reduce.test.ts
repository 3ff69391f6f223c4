// Reductions, arg-max, TopK and the softmax family through InferenceSession against onnxruntime-node,
// on values a Conv leaves channels-last (NHWC) in memory: every op reads them as they lie (no
// layout copy before it), for every axis, keepdims and opset form.
import { describe, expect, it } from "vitest";
import { InferenceSession } from "../src/graph/session.js";
import { DataType } from "../src/onnx/onnx-proto.js";
import { BUILDS_UNDER_TEST, engineFor, uniform } from "./harness.js";
import { expectMatchesOrt, type ModelSpec, int, ints, modelBytes, node, tensor } from "./graph-models.js";

const X = [2, 3, 5, 4];
const feeds = () => ({ x: { dims: X, data: uniform(2 * 3 * 5 * 4, 9, -1, 1) } });

/** x -> Conv 1x1 (3 -> 6 channels, NHWC output) -> op -> y. */
function afterConv(
  op: string,
  attrs: Parameters<typeof node>[3],
  extra: { inputs?: string[]; inits?: ReturnType<typeof tensor>[] } = {},
  opset = 17,
  outType: number = DataType.FLOAT,
): ModelSpec {
  return {
    nodes: [node("Conv", ["x", "w", "b"], ["c"]), node(op, ["c", ...(extra.inputs ?? [])], ["y"], attrs)],
    inits: [tensor("w", [6, 3, 1, 1], uniform(18, 1, -1, 1)), tensor("b", [6], uniform(6, 2, -0.5, 0.5)), ...(extra.inits ?? [])],
    inputs: [["x", X]],
    outputs: [["y", outType]],
    opset,
  };
}

const REDUCTIONS = ["ReduceSum", "ReduceMean", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceMax", "ReduceMin", "ReduceProd"];
const AXES = [[1], [2, 3], [1, 3], [0, 2], [-1], []];

describe.each(BUILDS_UNDER_TEST)("reductions and axis ops vs onnxruntime-node (%s)", (build) => {
  it.each(REDUCTIONS)("%s over every axis set, keepdims 0 and 1, axes as attribute (opset 17) and input (opset 18)", async (op) => {
    const e = await engineFor(build);
    for (const axes of AXES) {
      for (const keepdims of [0, 1]) {
        const label = `${op} axes [${axes}] keepdims ${keepdims}`;
        const attr = [int("keepdims", keepdims), ...(axes.length ? [ints("axes", axes)] : [])];
        if (op !== "ReduceSum") await expectMatchesOrt(e, afterConv(op, attr), feeds(), { rtol: 2e-5, atol: 2e-5, label: `${label} opset 17` });
        const viaInput = axes.length ? { inputs: ["axes"], inits: [tensor("axes", [axes.length], axes, DataType.INT64)] } : {};
        await expectMatchesOrt(e, afterConv(op, [int("keepdims", keepdims)], viaInput, 18), feeds(), { rtol: 2e-5, atol: 2e-5, label: `${label} opset 18` });
      }
    }
  });

  it("noop_with_empty_axes passes each element through the op's term", async () => {
    const e = await engineFor(build);
    for (const op of ["ReduceSum", "ReduceSumSquare", "ReduceL1", "ReduceMax"]) {
      await expectMatchesOrt(e, afterConv(op, [int("noop_with_empty_axes", 1)], {}, 18), feeds(), { label: `${op} noop` });
    }
  });

  it("reads the NHWC value as it lies: no layout copy before the reduction", async () => {
    const e = await engineFor(build);
    const s = InferenceSession.fromBytes(e, modelBytes(afterConv("ReduceMean", [ints("axes", [1]), int("keepdims", 1)])));
    const steps = s.planReport({ x: X }).steps;
    // Conv, the reduction, and the output's conversion to ONNX order ([2, 1, 5, 4]: a plain copy)
    expect(steps.filter((t) => t.algorithm === "layout.copy").length).toBeLessThanOrEqual(1);
    expect(steps.some((t) => t.algorithm === "reduceMean.strided")).toBe(true);
    await s.release();
  });

  it.each([["Softmax"], ["LogSoftmax"], ["Hardmax"]])("%s along every axis (opset 13+), and the opset 11 2-D form", async (op) => {
    const e = await engineFor(build);
    for (const axis of [0, 1, 2, 3, -1, -3]) {
      await expectMatchesOrt(e, afterConv(op, [int("axis", axis)]), feeds(), { rtol: 1e-5, atol: 1e-6, label: `${op} axis ${axis}` });
    }
    for (const axis of [0, 1, 2, 3]) {
      await expectMatchesOrt(e, afterConv(op, [int("axis", axis)], {}, 11), feeds(), { rtol: 1e-5, atol: 1e-6, label: `${op} opset 11 axis ${axis}` });
    }
  });

  it.each([["ArgMax"], ["ArgMin"]])("%s along every axis, keepdims, select_last_index", async (op) => {
    const e = await engineFor(build);
    // rounded values: ties, so first and last index differ
    const f = { x: { dims: X, data: Float32Array.from(uniform(120, 4, -2, 2), (v) => Math.round(v)) } };
    for (const axis of [0, 1, 2, 3, -1]) {
      for (const keepdims of [0, 1]) {
        for (const last of [0, 1]) {
          const spec = afterConv(op, [int("axis", axis), int("keepdims", keepdims), int("select_last_index", last)], {}, 13, DataType.INT64);
          spec.inits![0] = tensor(
            "w",
            [6, 3, 1, 1],
            Array.from({ length: 18 }, (_, i) => (i % 4) - 1),
          ); // integer products: exact ties
          spec.inits![1] = tensor("b", [6], [0, 1, 0, -1, 0, 1]);
          await expectMatchesOrt(e, spec, f, { rtol: 0, atol: 0, label: `${op} axis ${axis} keepdims ${keepdims} last ${last}` });
        }
      }
    }
  });

  it("TopK along every axis, largest and smallest, every K, ties to the lower index, k as attribute (opset 9)", async () => {
    const e = await engineFor(build);
    // rounded values and integer weights: exact ties, so the order among equals is tested
    const f = { x: { dims: X, data: Float32Array.from(uniform(120, 4, -2, 2), (v) => Math.round(v)) } };
    const C = [2, 6, 5, 4]; // the conv's output shape
    for (const axis of [0, 1, 2, 3, -1]) {
      const len = C[axis < 0 ? axis + 4 : axis]!;
      for (const largest of [1, 0]) {
        for (const k of new Set([0, 1, 3, len].filter((v) => v <= len))) {
          for (const opset of [11, 9]) {
            const label = `axis ${axis} largest ${largest} K ${k} opset ${opset}`;
            const attrs = [int("axis", axis), ...(opset >= 10 ? [int("largest", largest)] : [int("k", k)])];
            if (opset < 10 && (largest === 0 || k === 0)) continue; // largest arrived with opset 11; k >= 1 before it
            const spec: ModelSpec = {
              nodes: [node("Conv", ["x", "w", "b"], ["c"]), node("TopK", opset >= 10 ? ["c", "k"] : ["c"], ["v", "i"], attrs)],
              inits: [
                tensor(
                  "w",
                  [6, 3, 1, 1],
                  Array.from({ length: 18 }, (_, i) => (i % 4) - 1),
                ),
                tensor("b", [6], [0, 1, 0, -1, 0, 1]),
                ...(opset >= 10 ? [tensor("k", [1], [k], DataType.INT64)] : []),
              ],
              inputs: [["x", X]],
              outputs: ["v", ["i", DataType.INT64]],
              opset,
            };
            await expectMatchesOrt(e, spec, f, { rtol: 0, atol: 0, label });
          }
        }
      }
    }
  });

  it("TopK over long rows with many ties (a detector's candidates): every K up to the row, both orders", async () => {
    const e = await engineFor(build);
    for (const [rows, R, V] of [
      [2, 1000, 1],
      [1, 333, 3],
    ] as const) {
      // 41 distinct values in R entries: long runs of equals, ordered by index
      const data = Float32Array.from(uniform(rows * R * V, R, -2, 2), (v) => Math.round(v * 10) / 10);
      for (const largest of [1, 0])
        for (const k of [1, 7, 64, 300, R]) {
          await expectMatchesOrt(
            e,
            {
              nodes: [node("TopK", ["x", "k"], ["v", "i"], [int("axis", 1), int("largest", largest)])],
              inits: [tensor("k", [1], [k], DataType.INT64)],
              inputs: [["x", [rows, R, V]]],
              outputs: ["v", ["i", DataType.INT64]],
              opset: 11,
            },
            { x: { dims: [rows, R, V], data } },
            { rtol: 0, atol: 0, label: `R ${R} V ${V} K ${k} largest ${largest}` },
          );
        }
    }
  });

  it("TopK with only Values a graph output, on the input's own layout and on random values; refuses K beyond the axis", async () => {
    const e = await engineFor(build);
    const spec = (k: number, outputs: ModelSpec["outputs"]): ModelSpec => ({
      nodes: [node("TopK", ["x", "k"], ["v", "i"], [int("axis", 2)])],
      inits: [tensor("k", [1], [k], DataType.INT64)],
      inputs: [["x", X]],
      outputs,
      opset: 11,
    });
    await expectMatchesOrt(e, spec(4, ["v"]), feeds(), { rtol: 0, atol: 0, label: "values only" });
    await expectMatchesOrt(e, spec(5, ["v", ["i", DataType.INT64]]), feeds(), { rtol: 0, atol: 0, label: "full sort" });
    expect(() => InferenceSession.fromBytes(e, modelBytes(spec(6, ["v"]))).runSync(feeds())).toThrow(/TopK.*K = 6 must be in \[0, 5\]/);
  });
});
