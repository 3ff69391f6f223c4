// Normalisations through InferenceSession against onnxruntime-node: on ONNX-order inputs and on
// values a Conv (channels-last) or a Transpose (a permuted view) leaves in another axis order.
import { describe, expect, it } from "vitest";
import { InferenceSession } from "../src/graph/session.js";
import { BUILDS_UNDER_TEST, engineFor, uniform } from "./harness.js";
import { expectMatchesOrt, float, int, ints, type ModelSpec, modelBytes, node, tensor } from "./graph-models.js";

const X = [2, 6, 5, 4];
const N = X.reduce((a, b) => a * b, 1);
const feeds = () => ({ x: { dims: X, data: uniform(N, 21, -1, 2) } });
/** x -> Conv 1x1 6 -> 6 (channels-last output) */
const conv = () => ({
  nodes: [node("Conv", ["x", "cw", "cb"], ["c"])],
  inits: [tensor("cw", [6, 6, 1, 1], uniform(36, 22, -1, 1)), tensor("cb", [6], uniform(6, 23))],
});

/** x (or Conv(x), or Transpose(x)) -> op -> outputs. */
function model(
  source: "input" | "conv" | "transpose",
  op: ReturnType<typeof node>,
  inits: ReturnType<typeof tensor>[],
  outputs: string[],
  opset = 18,
): ModelSpec {
  const pre =
    source === "conv"
      ? conv()
      : source === "transpose"
        ? { nodes: [node("Transpose", ["x"], ["c"], [ints("perm", [0, 2, 3, 1])])], inits: [] }
        : { nodes: [], inits: [] };
  const from = source === "input" ? "x" : "c";
  op.input[0] = from;
  return { nodes: [...pre.nodes, op], inits: [...pre.inits, ...inits], inputs: [["x", X]], outputs, opset };
}

const SOURCES = ["input", "conv", "transpose"] as const;

describe.each(BUILDS_UNDER_TEST)("normalisations vs onnxruntime-node (%s)", (build) => {
  it("LayerNormalization on every axis, with Mean and InvStdDev, broadcast Scale, no B", async () => {
    const e = await engineFor(build);
    for (const source of SOURCES) {
      const shape = source === "transpose" ? [2, 5, 4, 6] : X;
      for (const axis of [-1, 1, 2, 3, -3]) {
        const ax = axis < 0 ? axis + 4 : axis;
        const norm = shape.slice(ax),
          size = norm.reduce((a, b) => a * b, 1);
        const label = `${source} axis ${axis}`;
        const full = [tensor("s", norm, uniform(size, 31, 0.5, 1.5)), tensor("b", norm, uniform(size, 32))];
        await expectMatchesOrt(
          e,
          model(source, node("LayerNormalization", ["", "s", "b"], ["y", "mean", "inv"], [int("axis", axis), float("epsilon", 1e-4)]), full, [
            "y",
            "mean",
            "inv",
          ]),
          feeds(),
          { rtol: 1e-4, atol: 1e-4, label },
        );
        // Scale broadcast along the leading normalised axes, and no B
        const bshape = norm.map((d, i) => (i === norm.length - 1 ? d : 1));
        await expectMatchesOrt(
          e,
          model(
            source,
            node("LayerNormalization", ["", "s"], ["y"], [int("axis", axis)]),
            [tensor("s", bshape, uniform(norm[norm.length - 1]!, 33, 0.5, 1.5))],
            ["y"],
          ),
          feeds(),
          { rtol: 1e-4, atol: 1e-4, label: `${label} broadcast scale` },
        );
      }
    }
  });

  it("reads a channels-last value as it lies where the normalised axes are innermost", async () => {
    const e = await engineFor(build);
    // Transpose(0, 2, 3, 1) of an NHWC Conv output is ONNX order [N, H, W, C] already
    const spec: ModelSpec = {
      nodes: [
        ...conv().nodes,
        node("Transpose", ["c"], ["t"], [ints("perm", [0, 2, 3, 1])]),
        node("LayerNormalization", ["t", "s", "b"], ["y"], [int("axis", -1)]),
      ],
      inits: [...conv().inits, tensor("s", [6], uniform(6, 1)), tensor("b", [6], uniform(6, 2))],
      inputs: [["x", X]],
      outputs: ["y"],
      opset: 18,
    };
    await expectMatchesOrt(e, spec, feeds(), { rtol: 1e-4, atol: 1e-4, label: "conv, transpose, layer norm" });
    const s = InferenceSession.fromBytes(e, modelBytes(spec));
    // the one copy lays the graph input x out for the Conv; none touches its output
    const copies = s
      .planReport({ x: X })
      .steps.filter((t) => t.algorithm === "layout.copy")
      .map((t) => t.where);
    expect(copies.length).toBe(1);
    expect(copies[0]).toMatch(/: x from onnx order to NHWC$/);
    await s.release();
  });

  it("InstanceNormalization channels-last and in ONNX order; GroupNormalization (opset 18 and 21)", async () => {
    const e = await engineFor(build);
    for (const source of ["input", "conv"] as const) {
      await expectMatchesOrt(
        e,
        model(
          source,
          node("InstanceNormalization", ["", "s", "b"], ["y"], [float("epsilon", 1e-3)]),
          [tensor("s", [6], uniform(6, 41, 0.5, 1.5)), tensor("b", [6], uniform(6, 42))],
          ["y"],
        ),
        feeds(),
        { rtol: 1e-4, atol: 1e-4, label: `instance norm ${source}` },
      );
      for (const [opset, size] of [
        [18, 3],
        [21, 6],
      ] as const) {
        await expectMatchesOrt(
          e,
          model(
            source,
            node("GroupNormalization", ["", "s", "b"], ["y"], [int("num_groups", 3)]),
            [tensor("s", [size], uniform(size, 43, 0.5, 1.5)), tensor("b", [size], uniform(size, 44))],
            ["y"],
            opset,
          ),
          feeds(),
          { rtol: 1e-4, atol: 1e-4, label: `group norm ${source} opset ${opset}` },
        );
      }
    }
  });

  it("BatchNormalization on ONNX-order inputs of rank 3 and 4 and after a Conv", async () => {
    const e = await engineFor(build);
    const stats = [
      tensor("s", [6], uniform(6, 51, 0.5, 1.5)),
      tensor("b", [6], uniform(6, 52)),
      tensor("m", [6], uniform(6, 53)),
      tensor("v", [6], uniform(6, 54, 0.5, 2)),
    ];
    for (const source of ["input", "conv"] as const) {
      await expectMatchesOrt(e, model(source, node("BatchNormalization", ["", "s", "b", "m", "v"], ["y"]), stats, ["y"], 15), feeds(), {
        rtol: 1e-5,
        atol: 1e-5,
        label: `batch norm ${source}`,
      });
    }
    const rank3: ModelSpec = {
      nodes: [node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])],
      inits: stats,
      inputs: [["x", [2, 6, 20]]],
      outputs: ["y"],
      opset: 15,
    };
    await expectMatchesOrt(e, rank3, { x: { dims: [2, 6, 20], data: uniform(240, 55) } }, { rtol: 1e-5, atol: 1e-5, label: "batch norm rank 3" });
    const s = InferenceSession.fromBytes(e, modelBytes(rank3));
    expect(s.planReport({ x: [2, 6, 20] }).steps.map((t) => t.algorithm)).toEqual(["batchNormalization.onnxOrder"]);
    await s.release();
  });

  it("LpNormalization (p 1, 2, every axis) and MeanVarianceNormalization (default and given axes)", async () => {
    const e = await engineFor(build);
    for (const source of SOURCES) {
      for (const axis of [-1, 0, 1, 2]) {
        for (const p of [1, 2]) {
          await expectMatchesOrt(e, model(source, node("LpNormalization", [""], ["y"], [int("axis", axis), int("p", p)]), [], ["y"]), feeds(), {
            rtol: 1e-5,
            atol: 1e-6,
            label: `lp ${source} axis ${axis} p ${p}`,
          });
        }
      }
      for (const axes of [undefined, [1], [2, 3], [0, 1, 2, 3]]) {
        const attrs = axes ? [ints("axes", axes)] : [];
        await expectMatchesOrt(e, model(source, node("MeanVarianceNormalization", [""], ["y"], attrs), [], ["y"], 13), feeds(), {
          rtol: 1e-4,
          atol: 1e-4,
          label: `mvn ${source} axes ${axes}`,
        });
      }
    }
  });
});
