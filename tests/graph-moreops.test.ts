// Operators and optional outputs real exported models use, through InferenceSession against
// onnxruntime-node in every build: MaxPool's Indices (storage_order 0 and 1, 1-D and 2-D, pads,
// strides, dilations, ceil mode; channel counts at SIMD tile edges), Dropout's mask, the
// trigonometric and hyperbolic functions, CumSum (every axis, exclusive / reverse, float and int,
// channels-last inputs; its gradient against central differences) and OneHot.
import { describe, expect, it } from "vitest";
import { InferenceSession } from "../src/graph/session.js";
import { DataType, type TensorProto } from "../src/onnx/onnx-proto.js";
import { BUILDS_UNDER_TEST, engineFor, rng, uniform } from "./harness.js";
import { expectMatchesOrt, int, ints, type ModelSpec, modelBytes, node, tensor } from "./graph-models.js";

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

describe.each(BUILDS_UNDER_TEST)("MaxPool Indices vs onnxruntime-node (%s)", (build) => {
  const cases: [string, number[], ReturnType<typeof int>[]][] = [
    ["3x3 s2 p1", [2, 5, 7, 6], [ints("kernel_shape", [3, 3]), ints("strides", [2, 2]), ints("pads", [1, 1, 1, 1])]],
    ["2x2 s2 (fast path)", [1, 8, 6, 8], [ints("kernel_shape", [2, 2]), ints("strides", [2, 2])]],
    ["2x2 s2 column-major", [1, 9, 5, 4], [ints("kernel_shape", [2, 2]), ints("strides", [2, 2]), int("storage_order", 1)]],
    ["3x2 dilated ceil", [2, 4, 9, 7], [ints("kernel_shape", [3, 2]), ints("dilations", [2, 1]), int("ceil_mode", 1), ints("strides", [2, 2])]],
    ["3x3 s1 p1 column-major", [1, 3, 5, 7], [ints("kernel_shape", [3, 3]), ints("pads", [1, 1, 1, 1]), int("storage_order", 1)]],
    ["1-D", [2, 17, 10], [ints("kernel_shape", [3]), ints("strides", [2]), ints("pads", [1, 0])]],
  ];
  it.each(cases)("%s", async (_label, shape, attrs) => {
    const e = await engineFor(build);
    const C = shape[1]!;
    // straight from the input, and after a 1x1 Conv (a channels-last value)
    for (const conv of [false, true]) {
      const k = shape.length - 2;
      await expectMatchesOrt(
        e,
        {
          nodes: [...(conv ? [node("Conv", ["x", "w"], ["c"])] : []), node("MaxPool", [conv ? "c" : "x"], ["y", "i"], attrs), node("Relu", ["y"], ["r"])],
          inits: conv ? [tensor("w", [C, C, ...Array(k).fill(1)], uniform(C * C, 4, -1, 1))] : [],
          inputs: [["x", shape]],
          outputs: ["r", ["i", DataType.INT64]],
          opset: 12,
        },
        { x: { dims: shape, data: uniform(size(shape), 7, -3, 3) } },
        { rtol: 1e-5, atol: 1e-5, label: `${_label} conv=${conv}` },
      );
    }
  });
});

describe.each(BUILDS_UNDER_TEST)("Dropout mask vs onnxruntime-node (%s)", (build) => {
  it("gives the data unchanged and a mask of all true (opset 12+; before, all 0 as onnxruntime gives it; data's type before 10)", async () => {
    const e = await engineFor(build);
    for (const [opset, maskType] of [
      [13, DataType.BOOL],
      [12, DataType.BOOL],
      [10, DataType.BOOL],
      [7, DataType.FLOAT],
    ] as const) {
      const got = await expectMatchesOrt(
        e,
        {
          nodes: [node("Sigmoid", ["x"], ["s"]), node("Dropout", ["s"], ["y", "m"], opset < 12 ? [{ name: "ratio", type: 1, f: 0.3 }] : [])],
          inputs: [["x", [2, 3, 5]]],
          outputs: ["y", ["m", maskType]],
          opset,
        },
        { x: { dims: [2, 3, 5], data: uniform(30, 2, -2, 2) } },
        { label: `opset ${opset}` },
      );
      expect(Array.from(got.m!.data)).toEqual(Array(30).fill(opset < 12 ? 0 : 1));
    }
  });
});

describe.each(BUILDS_UNDER_TEST)("trigonometric and hyperbolic ops vs onnxruntime-node (%s)", (build) => {
  const domains: [string, number, number][] = [
    ["Tan", -1.5, 1.5],
    ["Asin", -1, 1],
    ["Acos", -1, 1],
    ["Atan", -30, 30],
    ["Sinh", -10, 10],
    ["Cosh", -10, 10],
    ["Asinh", -100, 100],
    ["Acosh", 1, 100],
    ["Atanh", -0.99, 0.99],
  ];
  it.each(domains)("%s", async (op, lo, hi) => {
    const e = await engineFor(build);
    for (const shape of [[3], [4], [5], [2, 9]]) {
      await expectMatchesOrt(
        e,
        { nodes: [node(op, ["x"], ["y"])], inputs: [["x", shape]], outputs: ["y"], opset: 13 },
        { x: { dims: shape, data: uniform(size(shape), 31, lo, hi) } },
        { rtol: 1e-5, atol: 1e-6, label: `${op} [${shape}]` },
      );
    }
  });
});

/** Every float initializer's gradient (TrainableSession) against central differences of sum(y * G). */
async function checkGradients(
  build: (typeof BUILDS_UNDER_TEST)[number],
  spec: ModelSpec,
  feeds: Record<string, { dims: number[]; data: Float32Array }>,
  label: string,
) {
  const e = await engineFor(build);
  const s = InferenceSession.fromBytes(e, modelBytes(spec));
  const t = s.trainable();
  const out = spec.outputs[0] as string;
  const G = uniform(size(t.forward(feeds)[out]!.dims as number[]), 92, -1, 1);
  const loss = () => {
    const y = t.forward(feeds)[out]!.data as Float32Array;
    let l = 0;
    for (let i = 0; i < y.length; i++) l += y[i]! * G[i]!;
    return l;
  };
  t.zeroGrads();
  loss();
  t.backward({ [out]: G });
  const r = rng(93);
  expect(t.parameters().length, label).toBeGreaterThan(0);
  for (const p of t.parameters()) {
    const analytic = p.grad.data.slice();
    const v = p.value.data;
    for (let k = 0; k < Math.min(10, v.length); k++) {
      const i = v.length <= 10 ? k : Math.floor(r() * v.length);
      const h = 1e-2 * Math.max(1, Math.abs(v[i]!));
      const keep = v[i]!;
      v[i] = keep + h;
      const up = loss();
      v[i] = keep - h;
      const down = loss();
      v[i] = keep;
      const numeric = (up - down) / (2 * h);
      expect(Math.abs(analytic[i]! - numeric), `${label}: ${p.name}[${i}] analytic ${analytic[i]} numeric ${numeric}`).toBeLessThan(
        2e-2 * Math.max(1, Math.abs(numeric)),
      );
    }
  }
  t.release();
  await s.release();
}

const axisTensor = (axis: number, dataType: number = DataType.INT64): TensorProto => tensor("axis", [], [axis], dataType);

describe.each(BUILDS_UNDER_TEST)("CumSum vs onnxruntime-node (%s)", (build) => {
  it("every axis, exclusive and reverse, float and int32, ONNX-order and channels-last inputs", async () => {
    const e = await engineFor(build);
    for (const shape of [[7], [3, 5], [2, 9, 4], [1, 6, 3, 5]]) {
      for (let axis = -1; axis < shape.length; axis++) {
        for (const [exclusive, reverse] of [
          [0, 0],
          [1, 0],
          [0, 1],
          [1, 1],
        ]) {
          const attrs = [int("exclusive", exclusive!), int("reverse", reverse!)];
          const label = `[${shape}] axis ${axis} exclusive ${exclusive} reverse ${reverse}`;
          const conv = shape.length === 4;
          const C = shape[1] ?? 1;
          await expectMatchesOrt(
            e,
            {
              nodes: [...(conv ? [node("Conv", ["x", "w"], ["c"])] : []), node("CumSum", [conv ? "c" : "x", "axis"], ["y"], attrs)],
              inits: [axisTensor(axis, axis % 2 ? DataType.INT32 : DataType.INT64), ...(conv ? [tensor("w", [C, C, 1, 1], uniform(C * C, 5, -1, 1))] : [])],
              inputs: [["x", shape]],
              outputs: ["y"],
              opset: 14,
            },
            { x: { dims: shape, data: uniform(size(shape), 3, -2, 2) } },
            { rtol: 1e-5, atol: 1e-5, label },
          );
          await expectMatchesOrt(
            e,
            {
              nodes: [node("CumSum", ["x", "axis"], ["y"], attrs)],
              inits: [axisTensor(axis)],
              inputs: [["x", shape, DataType.INT32]],
              outputs: [["y", DataType.INT32]],
              opset: 14,
            },
            { x: { dims: shape, data: Int32Array.from(uniform(size(shape), 4, -100, 100), Math.round) } },
            { rtol: 0, atol: 0, label: `int32 ${label}` },
          );
        }
      }
    }
  });

  it("backward: the reverse running sum of dy, against central differences", async () => {
    for (const [exclusive, reverse] of [
      [0, 0],
      [1, 1],
    ]) {
      await checkGradients(
        build,
        {
          nodes: [node("Mul", ["x", "p"], ["t"]), node("CumSum", ["t", "axis"], ["y"], [int("exclusive", exclusive!), int("reverse", reverse!)])],
          inits: [axisTensor(1), tensor("p", [3, 6], uniform(18, 8, -1, 1))],
          inputs: [["x", [3, 6]]],
          outputs: ["y"],
        },
        { x: { dims: [3, 6], data: uniform(18, 9, 0.5, 1.5) } },
        `CumSum exclusive ${exclusive} reverse ${reverse}`,
      );
    }
  });
});

describe.each(BUILDS_UNDER_TEST)("OneHot vs onnxruntime-node (%s)", (build) => {
  it("every axis, negative and out-of-range indices, int32 / int64 / float indices, float and int64 values", async () => {
    const e = await engineFor(build);
    // the type combinations onnxruntime implements: indices, values, depth
    const combos = [
      [DataType.INT32, DataType.FLOAT, DataType.FLOAT, 3],
      [DataType.INT64, DataType.INT64, DataType.INT64, 9],
      [DataType.FLOAT, DataType.FLOAT, DataType.FLOAT, 5],
    ] as const;
    for (const shape of [[5], [2, 7], [3, 2, 4]]) {
      for (let axis = -1; axis <= shape.length; axis++) {
        for (const [indexType, valuesType, depthType, depth] of combos) {
          const indices = Array.from(
            { length: size(shape) },
            (_, i) => ((i * 7) % (2 * depth + 3)) - depth - 1 + (indexType === DataType.FLOAT && i % 2 ? 0.6 : 0),
          );
          const data =
            indexType === DataType.INT32
              ? Int32Array.from(indices)
              : indexType === DataType.INT64
                ? BigInt64Array.from(indices, (v) => BigInt(v))
                : Float32Array.from(indices);
          await expectMatchesOrt(
            e,
            {
              nodes: [node("OneHot", ["i", "depth", "values"], ["y"], [int("axis", axis)])],
              inits: [
                tensor("depth", [], [depth], depthType),
                tensor("values", [2], [-0.5, 2].map(valuesType === DataType.FLOAT ? (v) => v : Math.round), valuesType),
              ],
              inputs: [["i", shape, indexType]],
              outputs: [["y", valuesType]],
              opset: 11,
            },
            { i: { dims: shape, data: data as Int32Array, type: indexType === DataType.INT64 ? "int64" : undefined } },
            { rtol: 0, atol: 0, label: `[${shape}] axis ${axis} depth ${depth} indices ${indexType}` },
          );
        }
      }
    }
  });
});

const str = (name: string, s: string) => ({ name, type: 3, s });

describe.each(BUILDS_UNDER_TEST)("GridSample vs onnxruntime-node (%s)", (build) => {
  it("bilinear and nearest, zeros / border / reflection padding, with and without align_corners", async () => {
    const e = await engineFor(build);
    for (const [C, H, W, Ho, Wo] of [
      [1, 4, 5, 3, 2],
      [4, 3, 3, 4, 4],
      [5, 6, 4, 2, 5],
      [9, 1, 7, 3, 3],
    ] as const) {
      for (const mode of ["bilinear", "nearest"]) {
        for (const padding of ["zeros", "border", "reflection"]) {
          for (const align of [0, 1]) {
            const xs = [2, C, H, W],
              gs = [2, Ho, Wo, 2];
            await expectMatchesOrt(
              e,
              {
                nodes: [node("GridSample", ["x", "g"], ["y"], [str("mode", mode), str("padding_mode", padding), int("align_corners", align)])],
                inputs: [
                  ["x", xs],
                  ["g", gs],
                ],
                outputs: ["y"],
                opset: 16,
              },
              { x: { dims: xs, data: uniform(size(xs), C * 7 + H, -2, 2) }, g: { dims: gs, data: uniform(size(gs), Ho * 5 + Wo, -1.4, 1.4) } },
              { rtol: 1e-5, atol: 1e-5, label: `C${C} ${H}x${W} -> ${Ho}x${Wo} ${mode} ${padding} align ${align}` },
            );
          }
        }
      }
    }
  });

  it("reads only X's pixels whatever the grid holds (NaN, infinities, 1e30)", async () => {
    const e = await engineFor(build);
    const grid = Float32Array.of(NaN, 0, 1e30, -1e30, Infinity, 0, 0.5, -Infinity, -3e9, 7e9, 0.25, 0.25);
    for (const mode of ["bilinear", "nearest"]) {
      for (const padding of ["zeros", "border", "reflection"]) {
        const bytes = modelBytes({
          nodes: [node("GridSample", ["x", "g"], ["y"], [str("mode", mode), str("padding_mode", padding)])],
          inputs: [
            ["x", [1, 2, 3, 3]],
            ["g", [1, 2, 3, 2]],
          ],
          outputs: ["y"],
          opset: 16,
        });
        const s = InferenceSession.fromBytes(e, bytes);
        const y = (await s.run({ x: { dims: [1, 2, 3, 3], data: new Float32Array(18).fill(1) }, g: { dims: [1, 2, 3, 2], data: grid } })).y!
          .data as Float32Array;
        await s.release();
        // a pixel of x is 1, a zero-padded one 0: any other finite value was read from outside x
        for (const v of y) expect(Number.isNaN(v) || (v >= 0 && v <= 1 + 1e-6), `${mode} ${padding}: ${Array.from(y)}`).toBe(true);
        for (const i of [5, 11]) expect(y[i], `${mode} ${padding}: the in-range point`).toBeCloseTo(1, 5);
      }
    }
  });

  it("backward: dX and dGrid against central differences (bilinear, each padding)", async () => {
    for (const padding of ["zeros", "border", "reflection"]) {
      for (const align of [0, 1]) {
        await checkGradients(
          build,
          {
            nodes: [
              node("Mul", ["x", "p"], ["t"]),
              node("GridSample", ["t", "g"], ["y"], [str("mode", "bilinear"), str("padding_mode", padding), int("align_corners", align)]),
            ],
            inits: [tensor("p", [1, 5, 4, 3], uniform(60, 21, -1, 1)), tensor("g", [1, 3, 2, 2], uniform(12, 22 + align, -1.3, 1.3))],
            inputs: [["x", [1, 5, 4, 3]]],
            outputs: ["y"],
          },
          { x: { dims: [1, 5, 4, 3], data: uniform(60, 23, 0.5, 1.5) } },
          `GridSample ${padding} align ${align}`,
        );
      }
    }
  });
});

describe.each(BUILDS_UNDER_TEST)("Einsum vs onnxruntime-node (%s)", (build) => {
  const cases: [string, number[][]][] = [
    [
      "bij,bjk->bik",
      [
        [2, 3, 5],
        [2, 5, 4],
      ],
    ],
    [
      "ij,jk",
      [
        [3, 9],
        [9, 5],
      ],
    ],
    [
      "bhqd,bhkd->bhqk",
      [
        [1, 2, 5, 4],
        [1, 2, 3, 4],
      ],
    ],
    [
      "bhqk,bhkd->bhqd",
      [
        [2, 2, 5, 3],
        [2, 2, 3, 4],
      ],
    ],
    [
      "...ij,...jk->...ik",
      [
        [2, 1, 3, 4],
        [1, 5, 4, 6],
      ],
    ],
    [
      "nchw,kc->nkhw",
      [
        [2, 3, 4, 5],
        [6, 3],
      ],
    ],
    ["ij->ji", [[4, 7]]],
    ["ij->", [[4, 7]]],
    ["bij->bj", [[3, 4, 5]]],
    ["i,i->", [[9], [9]]],
    ["i,j->ij", [[4], [5]]],
    [
      "bn,anm,bm->ba",
      [
        [2, 3],
        [4, 3, 5],
        [2, 5],
      ],
    ],
    [
      "abc, cd -> dba",
      [
        [2, 3, 4],
        [4, 5],
      ],
    ],
    [
      "ij,kj->",
      [
        [3, 4],
        [5, 4],
      ],
    ],
  ];
  it.each(cases)("%s", async (equation, shapes) => {
    const e = await engineFor(build);
    const names = shapes.map((_, i) => `x${i}`);
    for (const opset of [12, 13]) {
      await expectMatchesOrt(
        e,
        {
          nodes: [node("Einsum", names, ["y"], [str("equation", equation)])],
          inputs: shapes.map((s, i) => [names[i]!, s] as [string, number[]]),
          outputs: ["y"],
          opset,
        },
        Object.fromEntries(shapes.map((s, i) => [names[i]!, { dims: s, data: uniform(size(s), 40 + i, -1, 1) }])),
        { rtol: 1e-5, atol: 1e-5, label: `${equation} opset ${opset}` },
      );
    }
  });

  it("refuses diagonals and malformed equations, naming the node", async () => {
    const e = await engineFor(build);
    for (const [equation, msg] of [
      ["ii,jk->i", /operand 0 repeats a letter \(a diagonal\)/],
      ["ij,jk->iz", /output letter "z" is in no operand/],
      ["ijk,jk->i", /operand 0 "ijk" does not match its rank 2/],
    ] as const) {
      const bytes = modelBytes({
        nodes: [node("Einsum", ["a", "b"], ["y"], [str("equation", equation)])],
        inputs: [
          ["a", [3, 3]],
          ["b", [3, 3]],
        ],
        outputs: ["y"],
        opset: 13,
      });
      expect(() => InferenceSession.fromBytes(e, bytes), equation).toThrow(msg);
    }
  });

  it("backward through the planned ops, against central differences", async () => {
    await checkGradients(
      build,
      {
        nodes: [node("Mul", ["x", "a"], ["t"]), node("Einsum", ["t", "b"], ["y"], [str("equation", "bij,jk->bik")])],
        inits: [tensor("a", [2, 3, 4], uniform(24, 50, -1, 1)), tensor("b", [4, 5], uniform(20, 51, -1, 1))],
        inputs: [["x", [2, 3, 4]]],
        outputs: ["y"],
      },
      { x: { dims: [2, 3, 4], data: uniform(24, 52, 0.5, 1.5) } },
      "Einsum",
    );
  });
});

describe.each(BUILDS_UNDER_TEST)("LpPool and GlobalLpPool vs onnxruntime-node (%s)", (build) => {
  it("p = 1, 2, 3; pads, strides; 1-D and 2-D; channel counts at tile edges", async () => {
    const e = await engineFor(build);
    for (const p of [1, 2, 3]) {
      for (const [shape, attrs] of [
        [
          [2, 5, 6, 7],
          [ints("kernel_shape", [3, 3]), ints("strides", [2, 2]), ints("pads", [1, 1, 1, 1])],
        ],
        [[1, 8, 5, 5], [ints("kernel_shape", [2, 2])]],
        [
          [1, 4, 9],
          [ints("kernel_shape", [3]), ints("pads", [1, 1])],
        ],
      ] as [number[], ReturnType<typeof ints>[]][]) {
        const feeds = { x: { dims: shape, data: uniform(size(shape), 60 + p, -2, 2) } };
        await expectMatchesOrt(
          e,
          { nodes: [node("LpPool", ["x"], ["y"], [int("p", p), ...attrs])], inputs: [["x", shape]], outputs: ["y"], opset: 11 },
          feeds,
          { rtol: 2e-5, atol: 1e-5, label: `LpPool p=${p} [${shape}]` },
        );
        await expectMatchesOrt(e, { nodes: [node("GlobalLpPool", ["x"], ["y"], [int("p", p)])], inputs: [["x", shape]], outputs: ["y"], opset: 13 }, feeds, {
          rtol: 2e-5,
          atol: 1e-5,
          label: `GlobalLpPool p=${p} [${shape}]`,
        });
      }
    }
  });

  it("backward through the planned ops, against central differences", async () => {
    for (const [op, attrs] of [
      ["LpPool", [int("p", 2), ints("kernel_shape", [2, 2]), ints("pads", [1, 0, 0, 1])]],
      ["GlobalLpPool", [int("p", 3)]],
    ] as const) {
      await checkGradients(
        build,
        {
          nodes: [node("Mul", ["x", "a"], ["t"]), node(op, ["t"], ["y"], [...attrs])],
          inits: [tensor("a", [1, 3, 4, 4], uniform(48, 70, 0.5, 1.5))],
          inputs: [["x", [1, 3, 4, 4]]],
          outputs: ["y"],
        },
        { x: { dims: [1, 3, 4, 4], data: uniform(48, 71, 0.5, 1.5) } },
        op,
      );
    }
  });
});
