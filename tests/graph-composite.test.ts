// The ops of src/graph/ops/composite.ts (planned as registered ops, or computed while planning)
// against onnxruntime-node in every build, at sizes around the SIMD tile: DFT (forward, inverse,
// one-sided, irfft, padded / cut dft_length, every axis), STFT with and without a window,
// ScatterElements (every axis, negative and int32 indices, reductions), Compress, ReverseSequence,
// RMSNormalization, NonZero on known values, CenterCropPad, AffineGrid, Attention and RotaryEmbedding (ops/attention.ts); and the clear refusals: NonZero on run-time data,
// an index outside data, Dropout in training mode, a sequence-typed graph input.
import { describe, expect, it } from "vitest";
import { SimdnetError } from "../src/errors.js";
import { InferenceSession } from "../src/graph/session.js";
import { DataType } from "../src/onnx/onnx-proto.js";
import { BUILDS_UNDER_TEST, engineFor, TILE_EDGE_SIZES, uniform } from "./harness.js";
import { expectMatchesOrt, float, int, modelBytes, node, tensor } from "./graph-models.js";

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

describe.each(BUILDS_UNDER_TEST)("DFT and STFT vs onnxruntime-node (%s)", (build) => {
  it("forward, inverse, one-sided and irfft DFTs of every length around the tile, along each axis", async () => {
    const e = await engineFor(build);
    for (const n of TILE_EDGE_SIZES.filter((v) => v <= 17)) {
      for (const [C, inverse, onesided] of [
        [1, 0, 0],
        [1, 0, 1],
        [2, 0, 0],
        [2, 1, 0],
        [2, 1, 1],
      ] as const) {
        if (inverse && onesided && n < 2) continue;
        for (const axis of [1, 2]) {
          const shape = axis === 1 ? [2, n, 3, C] : [2, 3, n, C];
          await expectMatchesOrt(
            e,
            {
              nodes: [node("DFT", ["x", "", "axis"], ["y"], [int("inverse", inverse), int("onesided", onesided)])],
              inits: [tensor("axis", [], [axis], DataType.INT64)],
              inputs: [["x", shape]],
              outputs: ["y"],
              opset: 20,
            },
            { x: { dims: shape, data: uniform(size(shape), n + C, -1, 1) } },
            { rtol: 1e-4, atol: 1e-5 * n, label: `n ${n} C ${C} inverse ${inverse} onesided ${onesided} axis ${axis}` },
          );
        }
      }
    }
  });

  it("dft_length pads and cuts the signal (opset 17, axis attribute)", async () => {
    const e = await engineFor(build);
    for (const [n, L] of [
      [5, 8],
      [9, 4],
      [8, 8],
    ] as const) {
      const shape = [3, n, 1];
      await expectMatchesOrt(
        e,
        {
          nodes: [node("DFT", ["x", "len"], ["y"], [int("axis", 1), int("onesided", 1)])],
          inits: [tensor("len", [], [L], DataType.INT64)],
          inputs: [["x", shape]],
          outputs: ["y"],
        },
        { x: { dims: shape, data: uniform(size(shape), n, -1, 1) } },
        { rtol: 1e-4, atol: 1e-4, label: `n ${n} dft_length ${L}` },
      );
    }
  });

  it("STFT: frames, steps and windows around the tile", async () => {
    const e = await engineFor(build);
    for (const [length, frame, step, windowed] of [
      [16, 4, 4, true],
      [33, 8, 3, true],
      [17, 5, 2, false],
      [9, 9, 1, true],
    ] as const) {
      const shape = [2, length, 1];
      await expectMatchesOrt(
        e,
        {
          nodes: [
            ...(windowed ? [node("HannWindow", ["fl"], ["w"])] : []),
            node("STFT", ["x", "step", windowed ? "w" : "", "fl"], ["y"], [int("onesided", 1)]),
          ],
          inits: [tensor("step", [], [step], DataType.INT64), tensor("fl", [], [frame], DataType.INT64)],
          inputs: [["x", shape]],
          outputs: ["y"],
        },
        { x: { dims: shape, data: uniform(size(shape), length, -1, 1) } },
        { rtol: 1e-4, atol: 1e-4, label: `length ${length} frame ${frame} step ${step} window ${windowed}` },
      );
    }
  });
});

describe.each(BUILDS_UNDER_TEST)("indexing ops vs onnxruntime-node (%s)", (build) => {
  it("ScatterElements on every axis, negative and int32 indices, each reduction", async () => {
    const e = await engineFor(build);
    const shape = [3, 5, 4];
    for (const axis of [0, 1, -1])
      for (const reduction of ["none", "add", "mul", "max", "min"])
        for (const indexType of [DataType.INT64, DataType.INT32]) {
          const ax = (axis + 3) % 3;
          const idxShape = [2, 3, 4];
          // distinct indices along the axis for "none" (duplicates are order-dependent there)
          const idx = Array.from({ length: size(idxShape) }, (_, i) => {
            const pos = [Math.floor(i / 12), Math.floor(i / 4) % 3, i % 4][ax]!;
            const v = reduction === "none" ? (pos * 2 + 1) % shape[ax]! : (i * 7) % shape[ax]!;
            return i % 3 === 0 ? v - shape[ax]! : v;
          });
          await expectMatchesOrt(
            e,
            {
              nodes: [node("ScatterElements", ["x", "i", "u"], ["y"], [int("axis", axis), { name: "reduction", type: 3, s: reduction }])],
              inits: [tensor("i", idxShape, idx, indexType), tensor("u", idxShape, uniform(size(idxShape), 3, -2, 2))],
              inputs: [["x", shape]],
              outputs: ["y"],
              opset: 18,
            },
            { x: { dims: shape, data: uniform(size(shape), 4, -2, 2) } },
            { label: `axis ${axis} ${reduction} ${indexType}` },
          );
        }
  });

  it("Compress (with and without axis), ReverseSequence, NonZero and RMSNormalization", async () => {
    const e = await engineFor(build);
    const shape = [4, 5, 3];
    const x = { dims: shape, data: uniform(size(shape), 9, -1, 1) };
    const cond = [1, 0, 1, 1, 0];
    for (const axis of [undefined, 1, -2]) {
      await expectMatchesOrt(
        e,
        {
          nodes: [node("Compress", ["x", "c"], ["y"], axis === undefined ? [] : [int("axis", axis)])],
          inits: [tensor("c", [5], cond, DataType.BOOL)],
          inputs: [["x", shape]],
          outputs: ["y"],
        },
        { x },
        { label: `Compress axis ${axis}` },
      );
    }
    for (const [batchAxis, timeAxis] of [
      [1, 0],
      [0, 1],
    ]) {
      const lens = batchAxis === 1 ? [4, 1, 3, 0, 2] : [4, 1, 5, 2];
      await expectMatchesOrt(
        e,
        {
          nodes: [node("ReverseSequence", ["x", "lens"], ["y"], [int("batch_axis", batchAxis!), int("time_axis", timeAxis!)])],
          inits: [tensor("lens", [lens.length], lens, DataType.INT64)],
          inputs: [["x", [4, 5, 3]]],
          outputs: ["y"],
        },
        { x },
        { label: `ReverseSequence batch ${batchAxis}` },
      );
    }
    await expectMatchesOrt(
      e,
      {
        nodes: [node("NonZero", ["c"], ["n"]), node("Cast", ["n"], ["y"], [int("to", DataType.FLOAT)])],
        inits: [
          tensor(
            "c",
            [2, 3, 5],
            [...Array(30).keys()].map((i) => (i * 7) % 4),
            DataType.FLOAT,
          ),
        ],
        inputs: [["x", [1]]],
        outputs: ["y"],
      },
      { x: { dims: [1], data: new Float32Array(1) } },
      { label: "NonZero" },
    );
    // on a small graph input's values (the session plans per value)
    await expectMatchesOrt(
      e,
      {
        nodes: [node("Relu", ["x"], ["r"]), node("NonZero", ["r"], ["n"]), node("Cast", ["n"], ["y"], [int("to", DataType.FLOAT)])],
        inputs: [["x", [3, 4]]],
        outputs: ["y"],
      },
      { x: { dims: [3, 4], data: uniform(12, 6, -1, 1) } },
      { label: "NonZero of Relu(x)" },
    );
    for (const axis of [-1, 1, 0]) {
      await expectMatchesOrt(
        e,
        {
          nodes: [node("RMSNormalization", ["x", "s"], ["y"], [int("axis", axis), float("epsilon", 1e-3)])],
          inits: [tensor("s", shape.slice((axis + 3) % 3), uniform(size(shape.slice((axis + 3) % 3)), 5, 0.5, 2))],
          inputs: [["x", shape]],
          outputs: ["y"],
          opset: 23,
        },
        { x },
        { label: `RMSNormalization axis ${axis}` },
      );
    }
  });
});

describe.each(BUILDS_UNDER_TEST)("CenterCropPad and AffineGrid vs onnxruntime-node (%s)", (build) => {
  it("CenterCropPad: crops and pads, even and odd differences, chosen and negative axes", async () => {
    const e = await engineFor(build);
    const shape = [5, 6, 3];
    const x = { dims: shape, data: uniform(size(shape), 12, -1, 1) };
    for (const [target, axes] of [
      [[3, 9, 3], undefined],
      [[8, 1, 4], undefined],
      [
        [2, 7],
        [0, -2],
      ],
      [[5], [1]],
    ] as const) {
      await expectMatchesOrt(
        e,
        {
          nodes: [node("CenterCropPad", ["x", "s"], ["y"], axes ? [{ name: "axes", type: 7, ints: [...axes] }] : [])],
          inits: [tensor("s", [target.length], target, DataType.INT64)],
          inputs: [["x", shape]],
          outputs: ["y"],
          opset: 18,
        },
        { x },
        { label: `CenterCropPad [${target}] axes ${axes}` },
      );
    }
  });

  it("AffineGrid: 2-D and 3-D, align_corners 0 and 1, sizes around the tile", async () => {
    const e = await engineFor(build);
    for (const align of [0, 1])
      for (const spatial of [
        [1, 5],
        [4, 7],
        [3, 8, 9],
        [2, 1, 17],
      ]) {
        const k = spatial.length,
          N = 2;
        const thetaShape = [N, k, k + 1];
        await expectMatchesOrt(
          e,
          {
            nodes: [node("AffineGrid", ["theta", "size"], ["y"], [int("align_corners", align)])],
            inits: [tensor("size", [k + 2], [N, 3, ...spatial], DataType.INT64)],
            inputs: [["theta", thetaShape]],
            outputs: ["y"],
            opset: 20,
          },
          { theta: { dims: thetaShape, data: uniform(size(thetaShape), k + align, -1, 1) } },
          { label: `AffineGrid ${spatial} align ${align}` },
        );
      }
  });
});

describe.each(BUILDS_UNDER_TEST)("Attention vs onnxruntime-node (%s)", (build) => {
  it("4-D and 3-D, grouped queries, head sizes around the tile, masks, causal, past, softcap, qk outputs", async () => {
    const e = await engineFor(build);
    type Case = {
      rank: 3 | 4;
      Hq: number;
      Hkv: number;
      D: number;
      S: number;
      T: number;
      P: number;
      mask?: "bool" | "float";
      causal?: boolean;
      softcap?: number;
      mode?: number;
    };
    // (masked scores in the mode-2 output are -inf here as in ONNX's reference, -FLT_MAX in
    // onnxruntime: the mode-2 case has a float mask and no causal mask)
    const cases: Case[] = [
      { rank: 4, Hq: 2, Hkv: 2, D: 4, S: 3, T: 5, P: 0 },
      { rank: 4, Hq: 4, Hkv: 2, D: 5, S: 4, T: 4, P: 0, causal: true, mode: 3 },
      { rank: 4, Hq: 3, Hkv: 1, D: 9, S: 2, T: 6, P: 3, mask: "bool", causal: true, mode: 0 },
      { rank: 4, Hq: 2, Hkv: 2, D: 1, S: 5, T: 3, P: 2, mask: "float", softcap: 2, mode: 2 },
      { rank: 4, Hq: 2, Hkv: 1, D: 7, S: 1, T: 4, P: 5, softcap: 3, mode: 1 },
      { rank: 3, Hq: 2, Hkv: 1, D: 8, S: 3, T: 7, P: 0, mask: "bool" },
      { rank: 3, Hq: 4, Hkv: 4, D: 3, S: 6, T: 6, P: 1, causal: true, softcap: 0.5 },
    ];
    for (const t of cases) {
      const B = 2,
        Dv = t.D + 1;
      const shapeOf = (H: number, L: number, d: number) => (t.rank === 4 ? [B, H, L, d] : [B, L, H * d]);
      const qs = shapeOf(t.Hq, t.S, t.D),
        ks = shapeOf(t.Hkv, t.T, t.D),
        vs = shapeOf(t.Hkv, t.T, Dv);
      const inputs: [string, number[], number?][] = [
        ["q", qs],
        ["k", ks],
        ["v", vs],
      ];
      const feeds: Record<string, { dims: number[]; data: Float32Array | Uint8Array; type?: string }> = {
        q: { dims: qs, data: uniform(size(qs), 1, -1, 1) },
        k: { dims: ks, data: uniform(size(ks), 2, -1, 1) },
        v: { dims: vs, data: uniform(size(vs), 3, -1, 1) },
      };
      // a mask over past + new keys (onnxruntime refuses a shorter one, which ONNX pads as masked)
      const ms = [t.S, t.P + t.T];
      if (t.mask === "bool") {
        inputs.push(["m", ms, DataType.BOOL]);
        feeds.m = { dims: ms, data: Uint8Array.from({ length: size(ms) }, (_, i) => (i % 3 === 1 ? 0 : 1)), type: "bool" };
      } else if (t.mask === "float") {
        inputs.push(["m", ms]);
        feeds.m = { dims: ms, data: uniform(size(ms), 4, -2, 0) };
      }
      if (t.P) {
        const pk = [B, t.Hkv, t.P, t.D],
          pv = [B, t.Hkv, t.P, Dv];
        inputs.push(["pk", pk], ["pv", pv]);
        feeds.pk = { dims: pk, data: uniform(size(pk), 5, -1, 1) };
        feeds.pv = { dims: pv, data: uniform(size(pv), 6, -1, 1) };
      }
      const attrs = [
        ...(t.rank === 3 ? [int("q_num_heads", t.Hq), int("kv_num_heads", t.Hkv)] : []),
        ...(t.causal ? [int("is_causal", 1)] : []),
        ...(t.softcap ? [float("softcap", t.softcap)] : []),
        ...(t.mode !== undefined ? [int("qk_matmul_output_mode", t.mode)] : []),
      ];
      await expectMatchesOrt(
        e,
        {
          nodes: [node("Attention", ["q", "k", "v", t.mask ? "m" : "", t.P ? "pk" : "", t.P ? "pv" : ""], ["y", "present_k", "present_v", "qk"], attrs)],
          inputs,
          outputs: ["y", "present_k", "present_v", "qk"],
          opset: 23,
        },
        feeds as never,
        { rtol: 1e-4, atol: 1e-5, label: JSON.stringify(t) },
      );
    }
  });
});

describe.each(BUILDS_UNDER_TEST)("RotaryEmbedding vs onnxruntime-node (%s)", (build) => {
  it("4-D and 3-D, halves and interleaved, partial rotary dims, with and without position_ids", async () => {
    const e = await engineFor(build);
    const [B, H, S] = [2, 3, 5];
    for (const D of [4, 10])
      for (const R of [0, 4])
        for (const interleaved of [0, 1])
          for (const rank of [4, 3])
            for (const withPositions of [true, false]) {
              const half = (R || D) / 2;
              const xs = rank === 4 ? [B, H, S, D] : [B, S, H * D];
              const cacheShape = withPositions ? [8, half] : [B, S, half];
              const angles = Array.from({ length: size(cacheShape) }, (_, i) => 0.37 * i);
              await expectMatchesOrt(
                e,
                {
                  nodes: [
                    node(
                      "RotaryEmbedding",
                      ["x", "cos", "sin", withPositions ? "pos" : ""],
                      ["y"],
                      [int("interleaved", interleaved), ...(R ? [int("rotary_embedding_dim", R)] : []), ...(rank === 3 ? [int("num_heads", H)] : [])],
                    ),
                  ],
                  inits: [
                    tensor("cos", cacheShape, angles.map(Math.cos)),
                    tensor("sin", cacheShape, angles.map(Math.sin)),
                    ...(withPositions
                      ? [
                          tensor(
                            "pos",
                            [B, S],
                            [...Array(B * S).keys()].map((i) => (i * 3) % 8),
                            DataType.INT64,
                          ),
                        ]
                      : []),
                  ],
                  inputs: [["x", xs]],
                  outputs: ["y"],
                  opset: 23,
                },
                { x: { dims: xs, data: uniform(size(xs), D + R, -1, 1) } },
                { label: `D ${D} R ${R} interleaved ${interleaved} rank ${rank} positions ${withPositions}` },
              );
            }
  });
});

describe.each(BUILDS_UNDER_TEST)("clear refusals (%s)", (build) => {
  const refuses = async (bytes: Uint8Array, feeds: Record<string, { dims: number[]; data: Float32Array }> | undefined, message: RegExp) => {
    const e = await engineFor(build);
    const used = e.heap.bytesInUse;
    let err: unknown;
    try {
      const s = InferenceSession.fromBytes(e, bytes);
      try {
        if (feeds) s.runSync(feeds);
      } finally {
        await s.release();
      }
    } catch (x) {
      err = x;
    }
    expect(err).toBeInstanceOf(SimdnetError);
    expect((err as Error).message).toMatch(message);
    expect(e.heap.bytesInUse).toBe(used);
  };

  it("NonZero on a graph input too large to plan per value: a staged plan reads it back", async () => {
    const e = await engineFor(build);
    const x = uniform(100, 2);
    for (let i = 0; i < 100; i += 3) x[i] = 0;
    await expectMatchesOrt(
      e,
      { nodes: [node("NonZero", ["x"], ["y"])], inputs: [["x", [10, 10]]], outputs: [["y", DataType.INT64]] },
      { x: { dims: [10, 10], data: x } },
    );
  });

  it("constants too large to build while planning (a DFT of 10^8 points, a window of 10^12)", async () => {
    const dft = modelBytes({
      nodes: [node("DFT", ["x", "len"], ["y"])],
      inits: [tensor("len", [], [1e8], DataType.INT64)],
      inputs: [["x", [1, 4, 1]]],
      outputs: ["y"],
    });
    await refuses(dft, { x: { dims: [1, 4, 1], data: uniform(4, 1) } }, /the DFT matrix would hold \d+ elements/);
    const window = modelBytes({
      nodes: [node("HannWindow", ["n"], ["y"])],
      inits: [tensor("n", [], [1e12], DataType.INT64)],
      inputs: [["x", [1]]],
      outputs: ["y"],
    });
    await refuses(window, { x: { dims: [1], data: uniform(1, 1) } }, /the window would hold/);
  });

  it("an output declared int64 that the graph computes as floats (NaN) comes out as computed", async () => {
    const e = await engineFor(build);
    const bytes = modelBytes({ nodes: [node("Log", ["x"], ["y"])], inputs: [["x", [3]]], outputs: [["y", DataType.INT64]] });
    const s = InferenceSession.fromBytes(e, bytes);
    try {
      const y = s.runSync({ x: { dims: [3], data: Float32Array.from([-1, 0, Math.E]) } }).y!;
      expect(y.type).toBe("float32");
      expect(Array.from(y.data as Float32Array).map((v) => (Number.isNaN(v) ? "NaN" : +v.toFixed(5)))).toEqual(["NaN", -Infinity, 1]);
    } finally {
      await s.release();
    }
  });

  it("an inlined op listing more outputs than it has", async () => {
    const bytes = modelBytes({ nodes: [node("Shrink", ["x"], ["", "y"])], inputs: [["x", [3]]], outputs: ["y"] });
    await refuses(bytes, { x: { dims: [3], data: uniform(3, 1) } }, /names output 1, but it has 1 output/);
  });

  it("a scatter index outside data", async () => {
    const bytes = modelBytes({
      nodes: [node("ScatterElements", ["x", "i", "u"], ["y"], [int("axis", 1)])],
      inits: [tensor("u", [1, 2], [1, 2])],
      inputs: [
        ["x", [2, 3]],
        ["i", [1, 2], DataType.INT64],
      ],
      outputs: ["y"],
    });
    const e = await engineFor(build);
    const s = InferenceSession.fromBytes(e, bytes);
    try {
      expect(() =>
        s.runSync({ x: { dims: [2, 3], data: new Float32Array(6) }, i: { dims: [1, 2], data: new BigInt64Array([0n, 3n]), type: "int64" } as never }),
      ).toThrow(/outside data/);
    } finally {
      await s.release();
    }
  });

  it("Dropout in training mode (random dropping), but not with ratio 0", async () => {
    const spec = (ratio: number) =>
      modelBytes({
        nodes: [node("Dropout", ["x", "r", "t"], ["y"])],
        inits: [tensor("r", [], [ratio]), tensor("t", [], [1], DataType.BOOL)],
        inputs: [["x", [2, 3]]],
        outputs: ["y"],
        opset: 13,
      });
    await refuses(spec(0.5), undefined, /training_mode true/);
    const e = await engineFor(build);
    const s = InferenceSession.fromBytes(e, spec(0));
    const x = uniform(6, 1);
    expect(Array.from(s.runSync({ x: { dims: [2, 3], data: x } }).y!.data as Float32Array)).toEqual(Array.from(x));
    await s.release();
  });

  it("a graph input typed as a sequence (not read as a float tensor)", async () => {
    const m = modelBytes({ nodes: [node("Identity", ["x"], ["y"])], inputs: [["x", [2]]], outputs: ["y"] });
    // TypeProto field 4 (sequence_type) in place of field 1 (tensor_type) on the input
    const seq = patchSequenceInput(m);
    await refuses(seq, undefined, /input "x": is a sequence, not a tensor/);
  });
});

/** The model with its first graph input's TypeProto.tensor_type (field 1) renumbered to sequence_type (4). */
function patchSequenceInput(bytes: Uint8Array): Uint8Array {
  // ValueInfoProto: 0x0a len "x" 0x12 len (TypeProto: 0x0a len ...): find `0x0a 0x01 'x' 0x12 L 0x0a`
  for (let i = 0; i + 5 < bytes.length; i++) {
    if (bytes[i] === 0x0a && bytes[i + 1] === 0x01 && bytes[i + 2] === 0x78 && bytes[i + 3] === 0x12 && bytes[i + 5] === 0x0a) {
      const out = bytes.slice();
      out[i + 5] = 0x22; // field 4, wire type 2
      return out;
    }
  }
  throw new Error("input x's TypeProto not found");
}
