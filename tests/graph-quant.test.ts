// Quantised operators through InferenceSession against onnxruntime-node (and the kernels against a
// float64 reference at tile edges): QuantizeLinear / DequantizeLinear per tensor and per axis,
// DynamicQuantizeLinear, ConvInteger, MatMulInteger, QLinearConv, QLinearMatMul.
import { describe, expect, it } from "vitest";
import { InferenceSession } from "../src/graph/session.js";
import { DataType } from "../src/onnx/onnx-proto.js";
import { BUILDS_UNDER_TEST, engineFor, rng, TILE_EDGE_SIZES, uniform } from "./harness.js";
import { expectMatchesOrt, type Feed, int, ints, type ModelSpec, modelBytes, node, ortRun, simdnetRun, tensor } from "./graph-models.js";

const u8 = (n: number, seed: number, lo = 0, hi = 255) => {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => lo + Math.floor(r() * (hi - lo + 1)));
};
const i8 = (n: number, seed: number, lo = -128, hi = 127) => {
  const r = rng(seed);
  return Int8Array.from({ length: n }, () => lo + Math.floor(r() * (hi - lo + 1)));
};
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/**
 * Runs both and requires equal integer outputs (except `slack` elements off by one). ref: the
 * model onnxruntime runs instead (the same computation where it lacks the quantised form).
 */
async function expectIntegersMatch(
  e: Awaited<ReturnType<typeof engineFor>>,
  spec: ModelSpec,
  feeds: Record<string, Feed>,
  label: string,
  slack = 0,
  ref: ModelSpec = spec,
): Promise<void> {
  const want = await ortRun(modelBytes(ref), feeds),
    got = simdnetRun(e, modelBytes(spec), feeds);
  for (const [k, w] of Object.entries(want)) {
    const g = got[k]!;
    expect(g.dims, `${label} ${k} dims`).toEqual(w.dims);
    let offByOne = 0;
    for (let i = 0; i < w.data.length; i++) {
      const d = Math.abs(Number(g.data[i]) - Number(w.data[i]));
      if (d === 0) continue;
      if (d === 1 && ++offByOne <= slack) continue;
      expect.fail(`${label} ${k} element ${i}: ${g.data[i]} vs onnxruntime ${w.data[i]}`);
    }
  }
}

describe.each(BUILDS_UNDER_TEST)("quantised operators vs onnxruntime-node (%s)", (build) => {
  it.each(TILE_EDGE_SIZES)("QuantizeLinear / DequantizeLinear per tensor on %i values, rounding halves to even, saturating", async (n) => {
    const e = await engineFor(build);
    // x / scale lands on exact halves for some entries: 0.5, 1.5, 2.5 ... (scale 0.5: x = 0.25, 0.75, ...)
    const x = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? (i - n / 2) * 0.25 + 0.25 : (i - n / 2) * 37.3));
    for (const [zpType, zp] of [
      [DataType.UINT8, 128],
      [DataType.INT8, -3],
    ] as const) {
      const spec: ModelSpec = {
        nodes: [node("QuantizeLinear", ["x", "s", "z"], ["q"]), node("DequantizeLinear", ["q", "s", "z"], ["y"])],
        inits: [tensor("s", [], [0.5]), tensor("z", [], [zp], zpType)],
        inputs: [["x", [n]]],
        outputs: [["q", zpType], "y"],
        opset: 13,
      };
      await expectIntegersMatch(e, spec, { x: { dims: [n], data: x } }, `Q/DQ ${n} zp type ${zpType}`);
    }
    // no zero point: uint8
    const spec: ModelSpec = {
      nodes: [node("QuantizeLinear", ["x", "s"], ["q"])],
      inits: [tensor("s", [], [0.25])],
      inputs: [["x", [n]]],
      outputs: [["q", DataType.UINT8]],
      opset: 13,
    };
    await expectIntegersMatch(e, spec, { x: { dims: [n], data: x } }, `Q uint8 default ${n}`);
  });

  it("QuantizeLinear / DequantizeLinear per axis (every axis), opsets 10, 13 and 21", async () => {
    const e = await engineFor(build);
    const X = [2, 3, 4, 5];
    for (const axis of [0, 1, 2, 3, -1]) {
      const d = X[(axis + 4) % 4]!;
      const spec: ModelSpec = {
        nodes: [node("QuantizeLinear", ["x", "s", "z"], ["q"], [int("axis", axis)]), node("DequantizeLinear", ["q", "s", "z"], ["y"], [int("axis", axis)])],
        inits: [
          tensor("s", [d], uniform(d, 3, 0.01, 0.1)),
          tensor(
            "z",
            [d],
            Array.from({ length: d }, (_, i) => i * 7 - 10),
            DataType.INT8,
          ),
        ],
        inputs: [["x", X]],
        outputs: [["q", DataType.INT8], "y"],
        opset: 13,
      };
      await expectIntegersMatch(e, spec, { x: { dims: X, data: uniform(size(X), 4, -6, 6) } }, `per axis ${axis}`);
    }
    for (const opset of [10, 21]) {
      const spec: ModelSpec = {
        nodes: [node("DequantizeLinear", ["q", "s", "z"], ["y"])],
        inits: [tensor("s", [], [0.02]), tensor("z", [], [7], DataType.UINT8)],
        inputs: [["q", [3, 5], DataType.UINT8]],
        outputs: ["y"],
        opset,
      };
      await expectMatchesOrt(e, spec, { q: { dims: [3, 5], data: u8(15, opset) } }, { rtol: 0, atol: 0, label: `DQ opset ${opset}` });
    }
    // int32 data (bias-style), no zero point
    const i32: ModelSpec = {
      nodes: [node("DequantizeLinear", ["q", "s"], ["y"])],
      inits: [tensor("s", [], [0.001])],
      inputs: [["q", [7], DataType.INT32]],
      outputs: ["y"],
      opset: 13,
    };
    await expectMatchesOrt(
      e,
      i32,
      { q: { dims: [7], data: Int32Array.from([-100000, -1, 0, 1, 5, 123456, 2 ** 30]) } },
      { rtol: 0, atol: 0, label: "DQ int32" },
    );
  });

  it("dequantises constant weights once, when planning", async () => {
    const e = await engineFor(build);
    const spec: ModelSpec = {
      nodes: [node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], [int("axis", 0)]), node("Conv", ["x", "w"], ["y"])],
      inits: [
        tensor("wq", [4, 3, 3, 3], i8(108, 5), DataType.INT8),
        tensor("ws", [4], [0.01, 0.02, 0.03, 0.04]),
        tensor("wz", [4], [0, 1, -2, 3], DataType.INT8),
      ],
      inputs: [["x", [1, 3, 6, 6]]],
      outputs: ["y"],
      opset: 13,
    };
    await expectMatchesOrt(e, spec, { x: { dims: [1, 3, 6, 6], data: uniform(108, 6) } }, { rtol: 1e-5, atol: 1e-5, label: "DQ weights -> Conv" });
    const s = InferenceSession.fromBytes(e, modelBytes(spec));
    expect(s.planReport({ x: [1, 3, 6, 6] }).steps.map((t) => t.algorithm)).not.toContain("dequantizeLinear.axis");
    await s.release();
  });

  it("DynamicQuantizeLinear on mixed, positive, negative and zero inputs", async () => {
    const e = await engineFor(build);
    const spec: ModelSpec = {
      nodes: [node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])],
      inputs: [["x", [37]]],
      outputs: [["y", DataType.UINT8], "s", ["z", DataType.UINT8]],
      opset: 11,
    };
    for (const [lo, hi] of [
      [-3, 5],
      [0.5, 2],
      [-4, -1],
      [0, 0],
    ]) {
      const x = Float32Array.from(uniform(37, 9, lo, hi));
      await expectIntegersMatch(e, spec, { x: { dims: [37], data: x } }, `DynamicQuantizeLinear [${lo}, ${hi})`);
    }
  });

  it("ConvInteger and MatMulInteger: scalar and per-channel zero points, uint8 and int8 weights", async () => {
    const e = await engineFor(build);
    for (const [wType, w] of [
      [DataType.UINT8, u8(4 * 3 * 9, 11)],
      [DataType.INT8, i8(4 * 3 * 9, 12)],
    ] as const) {
      for (const perChannel of [false, true]) {
        const wz = perChannel ? [1, 2, 3, 4] : [5];
        const spec: ModelSpec = {
          nodes: [node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], [ints("pads", [1, 1, 1, 1])])],
          inits: [tensor("w", [4, 3, 3, 3], w, wType), tensor("xz", [], [100], DataType.UINT8), tensor("wz", [wz.length], wz, wType)],
          inputs: [["x", [2, 3, 5, 6], DataType.UINT8]],
          outputs: [["y", DataType.INT32]],
          opset: 10,
        };
        // onnxruntime's ConvInteger takes per-tensor zero points only: a float Conv of the shifted
        // integers (exact: every sum stays below 2^24) is the reference for per-channel ones
        const ref: ModelSpec = {
          nodes: [
            node("Cast", ["x"], ["xf"], [int("to", DataType.FLOAT)]),
            node("Cast", ["xz"], ["xzf"], [int("to", DataType.FLOAT)]),
            node("Cast", ["w"], ["wf"], [int("to", DataType.FLOAT)]),
            node("Cast", ["wz"], ["wzf"], [int("to", DataType.FLOAT)]),
            node("Reshape", ["wzf", "wzShape"], ["wzr"]),
            node("Sub", ["xf", "xzf"], ["xs"]),
            node("Sub", ["wf", "wzr"], ["ws"]),
            node("Conv", ["xs", "ws"], ["yf"], [ints("pads", [1, 1, 1, 1])]),
            node("Cast", ["yf"], ["y"], [int("to", DataType.INT32)]),
          ],
          inits: [...spec.inits!, tensor("wzShape", [4], [wz.length, 1, 1, 1], DataType.INT64)],
          inputs: spec.inputs,
          outputs: spec.outputs,
          opset: 13,
        };
        await expectIntegersMatch(
          e,
          spec,
          { x: { dims: [2, 3, 5, 6], data: u8(180, 13) } },
          `ConvInteger w ${wType} per channel ${perChannel}`,
          0,
          perChannel ? ref : spec,
        );
      }
    }
    for (const [as, bs] of [
      [
        [3, 8],
        [8, 5],
      ],
      [
        [2, 3, 8],
        [8, 5],
      ],
      [
        [1, 8],
        [8, 17],
      ],
    ] as [number[], number[]][]) {
      const N = bs[1]!;
      for (const bConst of [true, false]) {
        const spec: ModelSpec = {
          nodes: [node("MatMulInteger", ["a", "b", "az", "bz"], ["y"])],
          inits: [
            tensor("az", [], [12], DataType.UINT8),
            tensor(
              "bz",
              [N],
              Array.from({ length: N }, (_, i) => i - 3),
              DataType.INT8,
            ),
            ...(bConst ? [tensor("b", bs, i8(size(bs), 14), DataType.INT8)] : []),
          ],
          inputs: [["a", as, DataType.UINT8], ...(bConst ? [] : [["b", bs, DataType.INT8] as [string, number[], number]])],
          outputs: [["y", DataType.INT32]],
          opset: 10,
        };
        // A within 7 bits: onnxruntime's uint8 x int8 products on x86 add pairs in int16 and
        // saturate beyond that (255 * 127 * 2 > 32767: measured 2108 for an exact 9601); ours are exact
        const feeds: Record<string, Feed> = { a: { dims: as, data: u8(size(as), 15, 0, 127) } };
        if (!bConst) feeds.b = { dims: bs, data: i8(size(bs), 14) };
        await expectIntegersMatch(e, spec, feeds, `MatMulInteger ${JSON.stringify([as, bs])} const ${bConst}`);
      }
    }
  });

  it("QLinearConv and QLinearMatMul: per-channel weight scales, bias, uint8 and int8 outputs", async () => {
    const e = await engineFor(build);
    // onnxruntime's QLinearConv gives y the type of x: uint8 -> uint8, int8 -> int8
    for (const [yType, yz, xz] of [
      [DataType.UINT8, 120, 128],
      [DataType.INT8, -5, 3],
    ] as const) {
      const spec: ModelSpec = {
        nodes: [node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"], [ints("pads", [1, 1, 1, 1]), ints("strides", [2, 1])])],
        inits: [
          tensor("xs", [], [0.02]),
          tensor("xz", [], [xz], yType),
          tensor("w", [6, 3, 3, 3], i8(162, 21, -60, 60), DataType.INT8),
          tensor("ws", [6], uniform(6, 22, 0.002, 0.01)),
          tensor("wz", [6], [0, 0, 0, 0, 0, 0], DataType.INT8),
          tensor("ys", [], [0.05]),
          tensor("yz", [], [yz], yType),
          tensor("b", [6], [100, -200, 300, 0, 5, -7], DataType.INT32),
        ],
        inputs: [["x", [2, 3, 7, 6], yType]],
        outputs: [["y", yType]],
        opset: 10,
      };
      // float sums of integers are exact here; the requantisation rounds as onnxruntime's
      const x = yType === DataType.UINT8 ? u8(252, 23) : i8(252, 23);
      await expectIntegersMatch(e, spec, { x: { dims: [2, 3, 7, 6], data: x } }, `QLinearConv y ${yType}`, 1);
    }
    for (const [as, bs] of [
      [
        [4, 16],
        [16, 6],
      ],
      [
        [2, 3, 16],
        [16, 9],
      ],
    ] as [number[], number[]][]) {
      const N = bs[1]!;
      const spec: ModelSpec = {
        nodes: [node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])],
        inits: [
          tensor("as", [], [0.03]),
          tensor("az", [], [110], DataType.UINT8),
          tensor("b", bs, u8(size(bs), 31), DataType.UINT8),
          tensor("bs", [N], uniform(N, 32, 0.005, 0.02)),
          tensor(
            "bz",
            [N],
            Array.from({ length: N }, (_, i) => 120 + i),
            DataType.UINT8,
          ),
          tensor("ys", [], [0.1]),
          tensor("yz", [], [128], DataType.UINT8),
        ],
        inputs: [["a", as, DataType.UINT8]],
        outputs: [["y", DataType.UINT8]],
        opset: 10,
      };
      await expectIntegersMatch(e, spec, { a: { dims: as, data: u8(size(as), 33) } }, `QLinearMatMul ${JSON.stringify([as, bs])}`, 1);
    }
  });
});
