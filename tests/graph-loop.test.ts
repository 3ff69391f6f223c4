// Loop and Scan (ops/control.ts): unrolled while planning, an iteration at a time (a count or condition
// the run computes stages the plan there), checked against onnxruntime-node: carried
// values, scan outputs, the iteration number, outer values read by the body, zero iterations, a
// count from the run's data, a body that resizes by values it computes (Mask R-CNN's mask
// pasting), a while loop whose condition the run computes, and one that never ends (refused).
import { describe, expect, it } from "vitest";
import { SimdnetError } from "../src/errors.js";
import { InferenceSession } from "../src/graph/session.js";
import { AttributeType, type AttributeProto, DataType, type NodeProto, type TensorProto } from "../src/onnx/onnx-proto.js";
import { expectRunsMatchOrt, type Feed, int, type ModelSpec, modelBytes, node, tensor } from "./graph-models.js";
import { BUILDS_UNDER_TEST, engineFor, uniform } from "./harness.js";

/** A Loop body: inputs (i, cond, ...carried float [shape]), nodes, outputs (cond, carried..., scans...). */
function body(carried: [string, number[]][], nodes: NodeProto[], outputs: [string, number][], inits: TensorProto[] = []): AttributeProto {
  return {
    name: "body",
    type: AttributeType.GRAPH,
    g: {
      name: "body",
      node: nodes,
      initializer: inits,
      input: [
        { name: "i", elemType: DataType.INT64, shape: [] },
        { name: "c_in", elemType: DataType.BOOL, shape: [] },
        ...carried.map(([name, shape]) => ({ name, elemType: DataType.FLOAT, shape })),
      ],
      valueInfo: [],
      output: outputs.map(([name, elemType]) => ({ name, elemType })),
    },
  };
}

/** Every run through one session matches onnxruntime-node; the session's memory is all freed after. */
async function expectMatchesOrt(build: Parameters<typeof engineFor>[0], spec: ModelSpec, runs: Record<string, Feed>[], tol = 1e-5): Promise<void> {
  const e = await engineFor(build);
  const used = e.heap.bytesInUse;
  await (await expectRunsMatchOrt(e, spec, runs, tol)).release();
  expect(e.heap.bytesInUse).toBe(used);
}

const F = DataType.FLOAT;

describe.each(BUILDS_UNDER_TEST)("Loop vs onnxruntime-node (%s)", (build) => {
  it("carried values, a scan output, the iteration number and an outer value, for 0, 1 and 5 iterations", async () => {
    for (const trips of [0, 1, 5]) {
      // acc = acc * 0.5 + x + i; scan: relu(acc) each iteration
      const loopBody = body(
        [["acc", [2, 3]]],
        [
          node("Cast", ["i"], ["fi"], [int("to", F)]),
          node("Mul", ["acc", "half"], ["h"]),
          node("Add", ["h", "x"], ["hx"]),
          node("Add", ["hx", "fi"], ["acc_out"]),
          node("Relu", ["acc_out"], ["row"]),
          node("Identity", ["c_in"], ["c_out"]),
        ],
        [
          ["c_out", DataType.BOOL],
          ["acc_out", F],
          ["row", F],
        ],
        [tensor("half", [], [0.5])],
      );
      await expectMatchesOrt(
        build,
        {
          nodes: [node("Loop", ["M", "cond", "acc0"], ["acc", "rows"], [loopBody])],
          inits: [tensor("M", [], [trips], DataType.INT64), tensor("cond", [], [1], DataType.BOOL)],
          inputs: [
            ["x", [2, 3]],
            ["acc0", [2, 3]],
          ],
          outputs: ["acc", ...(trips > 0 ? ["rows"] : [])],
          opset: 13,
        },
        [{ x: { dims: [2, 3], data: uniform(6, trips + 1) }, acc0: { dims: [2, 3], data: uniform(6, trips + 2) } }],
      );
    }
  });

  it("a trip count the run computes (a staged plan reads it), at opset 11", async () => {
    const loopBody = body(
      [["acc", [4]]],
      [node("Add", ["acc", "x"], ["acc_out"]), node("Identity", ["c_in"], ["c_out"])],
      [
        ["c_out", DataType.BOOL],
        ["acc_out", F],
      ],
    );
    const spec: ModelSpec = {
      nodes: [
        node("ReduceMax", ["x"], ["m"], [int("keepdims", 0)]),
        node("Cast", ["m"], ["M"], [int("to", DataType.INT64)]),
        node("Loop", ["M", "", "acc0"], ["acc"], [loopBody]),
      ],
      inits: [tensor("acc0", [4], [0, 0, 0, 0])],
      inputs: [["x", [4]]],
      outputs: ["acc"],
      opset: 11,
    };
    const runs = [3.5, 1.2, 6.9, 3.1].map((top) => ({ x: { dims: [4], data: Float32Array.from([0.5, top, 1, 2]) } }));
    await expectMatchesOrt(build, spec, runs);
  });

  it("a body that resizes by sizes it computes from the run's data (mask pasting)", async () => {
    // each iteration: a 2x2 patch upsampled to (1 + floor(box[i])) x 3, then summed into acc
    const loopBody = body(
      [["acc", []]],
      [
        node("Gather", ["rb", "i"], ["b"]),
        node("Floor", ["b"], ["fb"]),
        node("Cast", ["fb"], ["ib"], [int("to", DataType.INT64)]),
        node("Add", ["ib", "one"], ["h"]),
        node("Reshape", ["h", "shape1"], ["h1"]),
        node("Concat", ["lead", "h1", "three"], ["sizes"], [int("axis", 0)]),
        node("Resize", ["patch", "", "", "sizes"], ["up"], [{ name: "mode", type: AttributeType.STRING, s: "linear" }]),
        node("ReduceSum", ["up"], ["total"], [int("keepdims", 0)]),
        node("Add", ["acc", "total"], ["acc_out"]),
        node("Identity", ["c_in"], ["c_out"]),
      ],
      [
        ["c_out", DataType.BOOL],
        ["acc_out", F],
      ],
      [
        tensor("one", [], [1], DataType.INT64),
        tensor("shape1", [1], [1], DataType.INT64),
        tensor("lead", [2], [1, 1], DataType.INT64),
        tensor("three", [1], [3], DataType.INT64),
      ],
    );
    const spec: ModelSpec = {
      // the sizes come from a computed value (Abs): each iteration's Resize stages the plan
      nodes: [
        node("Abs", ["boxes"], ["rb"]),
        node("Shape", ["boxes"], ["n"]),
        node("Squeeze", ["n", "zero"], ["M"]),
        node("Loop", ["M", "", "acc0"], ["acc"], [loopBody]),
      ],
      inits: [tensor("zero", [1], [0], DataType.INT64), tensor("acc0", [], [0]), tensor("patch", [1, 1, 2, 2], [1, 2, 3, 4])],
      inputs: [["boxes", [3]]],
      outputs: ["acc"],
      opset: 13,
    };
    const runs = [
      [1.5, 4.2, 0.3],
      [2.9, 0, -7.7],
    ].map((b) => ({ boxes: { dims: [3], data: Float32Array.from(b) } }));
    await expectMatchesOrt(build, spec, runs, 1e-4);
    const e = await engineFor(build);
    const s = InferenceSession.fromBytes(e, modelBytes(spec));
    const steps = s.profile(runs[0]!).filter((p) => p.algorithm === "plan.stage");
    expect(steps.length).toBe(3); // one cut per iteration
    await s.release();
  });

  it("Scan: state and two scan inputs (one reversed, on axis 1), scan outputs on axes 0 and 1 (one reversed)", async () => {
    for (const T of [1, 4]) {
      const scanBody: AttributeProto = {
        name: "body",
        type: AttributeType.GRAPH,
        g: {
          name: "body",
          node: [node("Add", ["s", "xt"], ["s_out"]), node("Mul", ["xt", "yt"], ["p"]), node("Relu", ["s_out"], ["r"])],
          initializer: [],
          input: [
            { name: "s", elemType: F, shape: [3] },
            { name: "xt", elemType: F, shape: [3] },
            { name: "yt", elemType: F, shape: [3] },
          ],
          valueInfo: [],
          output: [
            { name: "s_out", elemType: F, shape: [3] },
            { name: "r", elemType: F, shape: [3] },
            { name: "p", elemType: F, shape: [3] },
          ],
        },
      };
      const attrs: AttributeProto[] = [
        scanBody,
        int("num_scan_inputs", 2),
        { name: "scan_input_axes", type: AttributeType.INTS, ints: [0, 1] },
        { name: "scan_input_directions", type: AttributeType.INTS, ints: [0, 1] },
        { name: "scan_output_axes", type: AttributeType.INTS, ints: [0, -1] },
        { name: "scan_output_directions", type: AttributeType.INTS, ints: [0, 1] },
      ];
      await expectMatchesOrt(
        build,
        {
          nodes: [node("Scan", ["s0", "x", "y"], ["s", "rs", "ps"], attrs)],
          inputs: [
            ["s0", [3]],
            ["x", [T, 3]],
            ["y", [3, T]],
          ],
          outputs: ["s", "rs", "ps"],
          opset: 11,
        },
        [{ s0: { dims: [3], data: uniform(3, T) }, x: { dims: [T, 3], data: uniform(3 * T, T + 1) }, y: { dims: [3, T], data: uniform(3 * T, T + 2) } }],
      );
    }
  });

  it("a while loop: the body computes its condition from the run's data, the plan stages per iteration", async () => {
    // acc doubles until its largest element reaches 100; a scan output keeps each iteration's acc
    const loopBody = body(
      [["acc", [2]]],
      [node("Add", ["acc", "acc"], ["acc_out"]), node("ReduceMax", ["acc_out"], ["m"], [int("keepdims", 0)]), node("Less", ["m", "limit"], ["c_out"])],
      [
        ["c_out", DataType.BOOL],
        ["acc_out", F],
        ["acc_out", F],
      ],
      [tensor("limit", [], [100])],
    );
    const spec: ModelSpec = {
      nodes: [node("Abs", ["x"], ["ax"]), node("Loop", ["", "cond", "ax"], ["acc", "steps"], [loopBody])],
      inits: [tensor("cond", [], [1], DataType.BOOL)],
      inputs: [["x", [2]]],
      outputs: ["acc", "steps"],
      opset: 13,
    };
    const runs = [
      [1, 0.5],
      [30, 2],
      [-0.01, 0.02],
      [1, 0.5],
    ].map((v) => ({ x: { dims: [2], data: Float32Array.from(v) } }));
    await expectMatchesOrt(build, spec, runs);
  });

  it("a while loop that would never end is refused once it has unrolled too much", async () => {
    const e = await engineFor(build);
    const loopBody = body(
      [["acc", [1]]],
      [node("Identity", ["acc"], ["acc_out"]), node("Identity", ["c_in"], ["c_out"])],
      [
        ["c_out", DataType.BOOL],
        ["acc_out", F],
      ],
    );
    const bytes = modelBytes({
      nodes: [node("Loop", ["", "cond", "acc0"], ["acc"], [loopBody])],
      inits: [tensor("cond", [], [1], DataType.BOOL)],
      inputs: [["acc0", [1]]],
      outputs: ["acc"],
    });
    let err: unknown;
    try {
      const s = InferenceSession.fromBytes(e, bytes);
      try {
        s.runSync({ acc0: { dims: [1], data: Float32Array.of(1) } });
      } finally {
        await s.release();
      }
    } catch (x) {
      err = x;
    }
    expect(err).toBeInstanceOf(SimdnetError);
    expect((err as Error).message).toMatch(/the loop reached \d+ iterations of a 2-node body: more than \d+ nodes unrolled/);
  });
});
