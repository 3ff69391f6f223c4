// Staged plans (plan.ts StagedPlan): graphs with a node that needs the VALUES of run-time data to
// plan (NonZero's output shape is its input's data, NonMaxSuppression's the boxes it keeps, TopK's
// k computed by the run). The plan runs up to that node, reads the values, plans the rest for
// them and runs it. Every run of one session is checked against onnxruntime-node on new data.
import { describe, expect, it } from "vitest";
import { OutOfMemoryError, SimdnetError } from "../src/errors.js";
import { InferenceSession } from "../src/graph/session.js";
import { AttributeType, type AttributeProto, DataType } from "../src/onnx/onnx-proto.js";
import { expectRunsMatchOrt, float, int, ints, type ModelSpec, modelBytes, node, tensor } from "./graph-models.js";
import { BUILDS_UNDER_TEST, engineFor, rng, uniform } from "./harness.js";

describe.each(BUILDS_UNDER_TEST)("staged plans: nodes that need the run's values (%s)", (build) => {
  it("NonZero of computed data, gathered back: new counts on every run of one session", async () => {
    const e = await engineFor(build);
    const used = e.heap.bytesInUse;
    const spec: ModelSpec = {
      nodes: [
        node("Mul", ["x", "x"], ["sq"]),
        node("Relu", ["x"], ["r"]),
        node("NonZero", ["r"], ["nz"]),
        node("Transpose", ["nz"], ["at"]),
        node("GatherND", ["r", "at"], ["kept"]),
        node("Add", ["kept", "kept"], ["twice"]),
      ],
      inputs: [["x", [2, 40]]],
      outputs: ["sq", ["nz", DataType.INT64], "twice"],
    };
    const feed = (seed: number, lo: number) => ({ x: { dims: [2, 40], data: uniform(80, seed, lo, 1) } });
    const runs = [feed(1, -1), feed(2, -0.2), feed(3, -3), feed(1, -1), feed(4, -1)];
    const s = await expectRunsMatchOrt(e, spec, runs);
    const report = s.planReport({ x: [2, 40] }, runs[0]);
    expect(report.steps.some((st) => st.algorithm === "plan.stage")).toBe(true);
    const profile = s.profile(runs[0]!);
    expect(profile.map((p) => p.algorithm)).toContain("plan.stage");
    await s.release();
    expect(e.heap.bytesInUse).toBe(used);
  });

  it("TopK with k computed from the data, and a Reshape to a computed shape", async () => {
    const e = await engineFor(build);
    const spec: ModelSpec = {
      nodes: [
        node("ReduceMax", ["x"], ["m"], [int("keepdims", 0)]),
        node("Cast", ["m"], ["k0"], [int("to", DataType.INT64)]),
        node("Unsqueeze", ["k0", "axes"], ["k"]),
        node("TopK", ["x", "k"], ["values", "indices"]),
        node("Concat", ["k", "minus1"], ["shape"], [int("axis", 0)]),
        node("Reshape", ["values", "shape"], ["grid"]),
      ],
      inits: [tensor("axes", [1], [0], DataType.INT64), tensor("minus1", [1], [-1], DataType.INT64)],
      inputs: [["x", [100]]],
      outputs: ["values", ["indices", DataType.INT64], "grid"],
    };
    // k = floor(max(x)) in 1..6; distinct values, so TopK's order is unambiguous
    const runs = [2, 5, 3, 2].map((top, r) => {
      const g = rng(r + 7);
      const data = Float32Array.from({ length: 100 }, (_, i) => (i / 100) * top + g() * 1e-3 + 1);
      return { x: { dims: [100], data } };
    });
    const s = await expectRunsMatchOrt(e, spec, runs);
    await s.release();
  });

  it("a conv's output carried across the cut in its own layout, then convolved again", async () => {
    const e = await engineFor(build);
    const w1 = uniform(4 * 3 * 9, 11),
      w2 = uniform(5 * 4 * 9, 12);
    const spec: ModelSpec = {
      nodes: [
        node("Conv", ["x", "w1"], ["c"], [ints("pads", [1, 1, 1, 1])]),
        node("Relu", ["c"], ["r"]),
        node("NonZero", ["r"], ["nz"]),
        node("Shape", ["nz"], ["count"]),
        node("Conv", ["r", "w2"], ["c2"], [ints("pads", [1, 1, 1, 1])]),
      ],
      inits: [tensor("w1", [4, 3, 3, 3], w1), tensor("w2", [5, 4, 3, 3], w2)],
      inputs: [["x", [1, 3, 9, 9]]],
      outputs: ["c", "c2", ["count", DataType.INT64]],
    };
    const runs = [1, 2].map((seed) => ({ x: { dims: [1, 3, 9, 9], data: uniform(243, seed) } }));
    const s = await expectRunsMatchOrt(e, spec, runs, 1e-4);
    await s.release();
  });

  it("NonMaxSuppression: corners and centres, thresholds, batches and classes, as onnxruntime", async () => {
    const e = await engineFor(build);
    for (const [B, C, N, center, maxOut, iou, scoreThreshold] of [
      [1, 1, 6, 0, 3, 0.5, undefined],
      [1, 1, 6, 1, 10, 0.3, 0.2],
      [2, 3, 20, 0, 4, 0.4, 0.1],
      [2, 2, 33, 1, 100, 0, undefined],
      [1, 2, 17, 0, 0, 0.5, 0.5],
      [3, 1, 40, 0, 7, 1, -0.5],
    ] as const) {
      const g = rng(B * 100 + N);
      // clustered boxes, so that many overlap; some with swapped corners (allowed in corner form)
      const boxes = new Float32Array(B * N * 4);
      for (let i = 0; i < B * N; i++) {
        const cx = Math.floor(g() * 4) * 2 + g(),
          cy = Math.floor(g() * 4) * 2 + g(),
          w = 0.5 + g() * 2,
          h = 0.5 + g() * 2;
        if (center) boxes.set([cx, cy, w, h], i * 4);
        else if (i % 5 === 0) boxes.set([cy + h / 2, cx + w / 2, cy - h / 2, cx - w / 2], i * 4);
        else boxes.set([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], i * 4);
      }
      const scores = uniform(B * C * N, N + C);
      scores[3] = scores[5]!; // a tie: the lower index first
      const inputs: string[] = ["b", "s", "max", "iou", ...(scoreThreshold === undefined ? [] : ["thr"])];
      const spec: ModelSpec = {
        nodes: [
          node("Identity", ["boxes"], ["b"]),
          node("Abs", ["scores"], ["s"]),
          node("NonMaxSuppression", inputs, ["sel"], [int("center_point_box", center)]),
        ],
        inits: [
          tensor("max", [1], [maxOut], DataType.INT64),
          tensor("iou", [1], [iou]),
          ...(scoreThreshold === undefined ? [] : [tensor("thr", [1], [scoreThreshold])]),
        ],
        inputs: [
          ["boxes", [B, N, 4]],
          ["scores", [B, C, N]],
        ],
        outputs: [["sel", DataType.INT64]],
      };
      const feeds = { boxes: { dims: [B, N, 4], data: boxes }, scores: { dims: [B, C, N], data: scores } };
      const s = await expectRunsMatchOrt(e, spec, [feeds, { ...feeds, scores: { dims: [B, C, N], data: uniform(B * C * N, 99) } }], 0);
      await s.release();
    }
  });

  it("a detector's tail: NonMaxSuppression, then the kept boxes and scores gathered", async () => {
    const e = await engineFor(build);
    const N = 50;
    const spec: ModelSpec = {
      nodes: [
        node("Sigmoid", ["logits"], ["scores"]),
        node("NonMaxSuppression", ["boxes", "scores", "max", "iou", "thr"], ["sel"]),
        node("Gather", ["sel", "two"], ["which"], [int("axis", 1)]),
        node("Squeeze", ["boxes", "zero"], ["flat"]),
        node("Gather", ["flat", "which"], ["kept"], [int("axis", 0)]),
        node("ReduceSum", ["kept"], ["total"], [int("keepdims", 0)]),
      ],
      inits: [
        tensor("max", [], [5], DataType.INT64),
        tensor("iou", [], [0.45]),
        tensor("thr", [], [0.3]),
        tensor("two", [], [2], DataType.INT64),
        tensor("zero", [1], [0], DataType.INT64),
      ],
      inputs: [
        ["boxes", [1, N, 4]],
        ["logits", [1, 2, N]],
      ],
      outputs: ["kept", "total", ["sel", DataType.INT64]],
    };
    const runs = [1, 2, 3].map((seed) => {
      const b = uniform(N * 4, seed, 0, 4);
      for (let i = 0; i < N; i++) (b[i * 4 + 2]! += 1), (b[i * 4 + 3]! += 1);
      return { boxes: { dims: [1, N, 4], data: b }, logits: { dims: [1, 2, N], data: uniform(2 * N, seed + 10, -3, 3) } };
    });
    const s = await expectRunsMatchOrt(e, spec, runs);
    await s.release();
  });

  it("Unique of computed data, with and without axis, sorted and in order of occurrence", async () => {
    const e = await engineFor(build);
    for (const [axis, sorted] of [
      [undefined, 1],
      [undefined, 0],
      [1, 1],
      [0, 0],
      [-1, 1],
    ] as const) {
      const spec: ModelSpec = {
        nodes: [
          node("Floor", ["x"], ["f"]),
          node("Unique", ["f"], ["y", "first", "inverse", "counts"], [int("sorted", sorted), ...(axis === undefined ? [] : [int("axis", axis)])]),
          node("Mul", ["y", "y"], ["y2"]),
        ],
        inputs: [["x", [6, 20]]],
        outputs: ["y2", ["first", DataType.INT64], ["inverse", DataType.INT64], ["counts", DataType.INT64]],
        opset: 11,
      };
      // few distinct values per row and column, so slices repeat along either axis
      const runs = [1, 2].map((seed) => {
        const g = rng(seed);
        const data = Float32Array.from({ length: 120 }, (_, i) => (i % 20 < 10 ? (i % 20) % 3 : Math.floor(g() * 3)) + (Math.floor(i / 20) % 2) * 0.5);
        return { x: { dims: [6, 20], data } };
      });
      const s = await expectRunsMatchOrt(e, spec, runs, 0);
      await s.release();
    }
  });

  it("refuses bad NonMaxSuppression inputs with errors naming them", async () => {
    const e = await engineFor(build);
    const used = e.heap.bytesInUse;
    const nms = (boxes: number[], scores: number[], iou: number) =>
      modelBytes({
        nodes: [node("NonMaxSuppression", ["boxes", "scores", "max", "iou"], ["sel"])],
        inits: [tensor("max", [], [3], DataType.INT64), tensor("iou", [], [iou])],
        inputs: [
          ["boxes", boxes],
          ["scores", scores],
        ],
        outputs: [["sel", DataType.INT64]],
      });
    const run = (bytes: Uint8Array, b: number[], sc: number[]) => {
      const s = InferenceSession.fromBytes(e, bytes);
      try {
        const n = (d: number[]) => d.reduce((a, x) => a * x, 1);
        s.runSync({ boxes: { dims: b, data: uniform(n(b), 1) }, scores: { dims: sc, data: uniform(n(sc), 2) } });
      } finally {
        void s.release();
      }
    };
    expect(() => run(nms([1, 20, 3], [1, 1, 20], 0.5), [1, 20, 3], [1, 1, 20])).toThrow(/boxes must be \[batches, boxes, 4\], got \[1,20,3\]/);
    expect(() => run(nms([1, 20, 4], [1, 1, 21], 0.5), [1, 20, 4], [1, 1, 21])).toThrow(/scores \[1,1,21\] must be \[1, classes, 20\]/);
    expect(() => run(nms([1, 20, 4], [1, 1, 20], 1.5), [1, 20, 4], [1, 1, 20])).toThrow(SimdnetError);
    expect(() => run(nms([1, 20, 4], [1, 1, 20], Number.NaN), [1, 20, 4], [1, 1, 20])).toThrow(/iou_threshold must be in \[0, 1\]/);
    expect(e.heap.bytesInUse).toBe(used);
  });

  it("maxPlanBytes bounds all the stages together: a rest that does not fit is refused at run", async () => {
    const e = await engineFor(build);
    const used = e.heap.bytesInUse;
    const bytes = modelBytes({
      nodes: [
        node("Relu", ["x"], ["r"]),
        node("NonZero", ["r"], ["nz"]),
        node("Cast", ["nz"], ["f"], [int("to", DataType.FLOAT)]),
        node("Tile", ["f", "reps"], ["big"]),
      ],
      inits: [tensor("reps", [2], [1, 4096], DataType.INT64)],
      inputs: [["x", [100]]],
      outputs: ["big"],
    });
    const feeds = { x: { dims: [100], data: uniform(100, 3) } };
    const alone = InferenceSession.fromBytes(e, bytes);
    const report = alone.planReport({ x: [100] }, feeds);
    alone.runSync(feeds);
    const whole = alone.planReport({ x: [100] }, feeds); // after a run: both stages
    await alone.release();
    const firstBytes = report.arenaBytes + report.workspaceBytes + report.paramBytes + report.foldedBytes;
    const allBytes = whole.arenaBytes + whole.workspaceBytes + whole.paramBytes + whole.foldedBytes;
    expect(allBytes).toBeGreaterThan(firstBytes);
    // enough for either stage alone, not for both
    const s = InferenceSession.fromBytes(e, bytes, { maxPlanBytes: Math.max(firstBytes, allBytes - firstBytes) + 16 });
    expect(() => s.runSync(feeds)).toThrow(OutOfMemoryError);
    await s.release();
    expect(e.heap.bytesInUse).toBe(used);
  });

  it("a training plan still refuses a node that needs the run's values", async () => {
    const e = await engineFor(build);
    const bytes = modelBytes({
      nodes: [
        node("MatMul", ["x", "w"], ["y"]),
        node("NonZero", ["y"], ["nz"]),
        node("Shape", ["nz"], ["shape"]),
        node("Gather", ["shape", "one"], ["n"]),
        node("Cast", ["n"], ["nf"], [int("to", DataType.FLOAT)]),
        node("Mul", ["y", "nf"], ["z"]),
      ],
      inits: [tensor("w", [4, 4], uniform(16, 3)), tensor("one", [], [1], DataType.INT64)],
      inputs: [["x", [2, 4]]],
      outputs: ["z"],
    });
    const s = InferenceSession.fromBytes(e, bytes);
    const feeds = { x: { dims: [2, 4], data: uniform(8, 4) } };
    expect(s.runSync(feeds).z!.dims).toEqual([2, 4]); // inference stages
    const t = s.trainable({ lossOutputs: ["z"] });
    expect(() => t.forward(feeds)).toThrow(/must be known when planning .* depends on the run's data/);
    await s.release();
    void float;
  });
});

describe.each(BUILDS_UNDER_TEST)("RoiAlign vs onnxruntime-node (%s)", (build) => {
  it("channels around the SIMD tile, both modes and coordinate rules, sampling ratios, rois past the border", async () => {
    const e = await engineFor(build);
    const rois = [0, 0, 7, 5, 1.5, 0.25, 6.5, 8.75, -2, -1, 3, 2, 4, 4, 4.2, 4.1, 5, 1, 12, 3, 0.3, 0.3, 0.3, 0.3];
    const batch = [0, 1, 1, 0, 1, 0];
    for (const C of [1, 3, 4, 5, 8, 9]) {
      for (const [mode, transform, ratio, scale, opset] of [
        ["avg", "half_pixel", 0, 1, 16],
        ["avg", "output_half_pixel", 2, 0.5, 16],
        ["max", "half_pixel", 0, 1, 16],
        ["max", "half_pixel", 3, 0.75, 16],
        ["avg", undefined, 0, 1, 10],
      ] as const) {
        const x = uniform(2 * C * 9 * 10, C, -1, 1);
        await expectRunsMatchOrt(
          e,
          {
            // the conv makes X channels-last in simdnet, as a backbone's feature map is
            nodes: [
              node("Conv", ["x", "w"], ["f"]),
              node(
                "RoiAlign",
                ["f", "rois", "batch"],
                ["y"],
                [
                  { name: "mode", type: 3, s: mode },
                  ...(transform ? [{ name: "coordinate_transformation_mode", type: 3, s: transform }] : []),
                  int("output_height", 3),
                  int("output_width", 2),
                  int("sampling_ratio", ratio),
                  float("spatial_scale", scale),
                ],
              ),
            ],
            inits: [tensor("w", [C, C, 1, 1], uniform(C * C, C + 1)), tensor("rois", [6, 4], rois), tensor("batch", [6], batch, DataType.INT64)],
            inputs: [["x", [2, C, 9, 10]]],
            outputs: ["y"],
            opset,
          },
          [{ x: { dims: [2, C, 9, 10], data: x } }],
          1e-5,
        );
      }
    }
  });

  it("refuses a batch index outside X and a roi too large to sample, leaving the heap as it was", async () => {
    const e = await engineFor(build);
    const used = e.heap.bytesInUse;
    const bytes = modelBytes({
      nodes: [node("RoiAlign", ["x", "rois", "batch"], ["y"], [int("output_height", 2), int("output_width", 2)])],
      inputs: [
        ["x", [1, 2, 4, 4]],
        ["rois", [1, 4]],
        ["batch", [1], DataType.INT64],
      ],
      outputs: ["y"],
      opset: 16,
    });
    const s = InferenceSession.fromBytes(e, bytes);
    const run = (rois: number[], b: number) =>
      s.runSync({
        x: { dims: [1, 2, 4, 4], data: uniform(32, 1) },
        rois: { dims: [1, 4], data: Float32Array.from(rois) },
        batch: { dims: [1], data: new BigInt64Array([BigInt(b)]), type: "int64" } as never,
      });
    expect(() => run([0, 0, 2, 2], 1)).toThrow(/batch_indices\[0\] is 1, outside \[0, 1\)/);
    expect(() => run([0, 0, 1e9, 1e9], 0)).toThrow(/roi 0 .* would take \d+ x \d+ samples per bin/);
    expect(run([0, 0, Number.NaN, 2], 0).y!.dims).toEqual([1, 2, 2, 2]); // NaN: no samples, zeros
    await s.release();
    expect(e.heap.bytesInUse).toBe(used);
  });
});

describe("staged ops under hostile run-time data", () => {
  it("NMS, RoiAlign, Unique, NonZero and TopK on NaN, infinities, 1e30 and bad indices: results or SimdnetErrors, heap unchanged", async () => {
    const e = await engineFor("simd");
    const r = rng(99);
    const nasty = () => {
      const u = r();
      return u < 0.05
        ? Number.NaN
        : u < 0.1
          ? Number.POSITIVE_INFINITY
          : u < 0.15
            ? Number.NEGATIVE_INFINITY
            : u < 0.18
              ? 1e30
              : u < 0.21
                ? -1e30
                : u < 0.3
                  ? 0
                  : (r() - 0.5) * 20;
    };
    const size = (d: number[]) => d.reduce((a, b) => a * b, 1);
    const str = (name: string, s: string): AttributeProto => ({ name, type: AttributeType.STRING, s });
    // each case: the model (its data-dependent op behind Abs / Relu / Floor, so the plan stages) and its inputs' shapes
    const cases: (() => [ModelSpec, Record<string, number[]>])[] = [
      () => {
        const N = 1 + Math.floor(r() * 60),
          C = 1 + Math.floor(r() * 3);
        return [
          {
            nodes: [
              node("Abs", ["b"], ["ab"]),
              node("Abs", ["s"], ["as"]),
              node("NonMaxSuppression", ["ab", "as", "m", "iou", "thr"], ["y"], [int("center_point_box", r() < 0.5 ? 0 : 1)]),
            ],
            inits: [tensor("m", [], [Math.floor(r() * 10) - 2], DataType.INT64), tensor("iou", [], [r()]), tensor("thr", [], [nasty()])],
            inputs: [
              ["b", [1, N, 4]],
              ["s", [1, C, N]],
            ],
            outputs: [["y", DataType.INT64]],
          },
          { b: [1, N, 4], s: [1, C, N] },
        ];
      },
      () => {
        const R = Math.floor(r() * 6),
          C = 1 + Math.floor(r() * 9);
        const attrs = [
          int("output_height", 1 + Math.floor(r() * 4)),
          int("output_width", 1 + Math.floor(r() * 4)),
          int("sampling_ratio", Math.floor(r() * 3)),
          str("mode", r() < 0.5 ? "avg" : "max"),
        ];
        return [
          {
            nodes: [node("Relu", ["x"], ["rx"]), node("Abs", ["rois"], ["ar"]), node("RoiAlign", ["rx", "ar", "bi"], ["y"], attrs)],
            inputs: [
              ["x", [2, C, 7, 9]],
              ["rois", [R, 4]],
              ["bi", [R], DataType.INT64],
            ],
            outputs: ["y"],
            opset: 16,
          },
          { x: [2, C, 7, 9], rois: [R, 4], bi: [R] },
        ];
      },
      () => {
        const n = 1 + Math.floor(r() * 120);
        return [
          {
            nodes: [node("Floor", ["x"], ["f"]), node("Unique", ["f"], ["y", "i", "inv", "c"], r() < 0.5 ? [] : [int("axis", 0)])],
            inputs: [["x", [n]]],
            outputs: ["y", ["i", DataType.INT64], ["inv", DataType.INT64], ["c", DataType.INT64]],
            opset: 11,
          },
          { x: [n] },
        ];
      },
      () => {
        const n = 1 + Math.floor(r() * 120);
        return [
          {
            nodes: [node("Relu", ["x"], ["rx"]), node("NonZero", ["rx"], ["nz"]), node("Transpose", ["nz"], ["t"]), node("GatherND", ["rx", "t"], ["y"])],
            inputs: [["x", [n]]],
            outputs: ["y"],
          },
          { x: [n] },
        ];
      },
      () => {
        const n = 1 + Math.floor(r() * 50);
        return [
          {
            nodes: [
              node("ReduceMax", ["x"], ["m"], [int("keepdims", 0)]),
              node("Cast", ["m"], ["k0"], [int("to", DataType.INT64)]),
              node("Unsqueeze", ["k0", "ax"], ["k"]),
              node("TopK", ["x", "k"], ["v", "i"]),
            ],
            inits: [tensor("ax", [1], [0], DataType.INT64)],
            inputs: [["x", [n]]],
            outputs: ["v", ["i", DataType.INT64]],
            opset: 13,
          },
          { x: [n] },
        ];
      },
    ];
    let ok = 0,
      refused = 0;
    const raw: string[] = [];
    for (let k = 0; k < 500; k++) {
      const [spec, shapes] = cases[k % cases.length]!();
      const before = e.heap.bytesInUse;
      try {
        const s = InferenceSession.fromBytes(e, modelBytes(spec));
        try {
          const feeds = Object.fromEntries(
            Object.entries(shapes).map(([name, dims]) => [
              name,
              name === "bi"
                ? ({ dims, data: BigInt64Array.from({ length: size(dims) }, () => BigInt(Math.floor(r() * 4) - 1)), type: "int64" } as never)
                : { dims, data: Float32Array.from({ length: size(dims) }, nasty) },
            ]),
          );
          s.runSync(feeds);
          s.runSync(feeds); // the rest's plan reused
          ok++;
        } finally {
          await s.release();
        }
      } catch (err) {
        if (err instanceof SimdnetError) refused++;
        else raw.push(`case ${k}: ${String(err)}`);
      }
      expect(e.heap.bytesInUse, `case ${k}`).toBe(before);
    }
    expect(raw).toEqual([]);
    expect(ok).toBeGreaterThan(300);
    expect(refused).toBeGreaterThan(10); // out-of-range batch indices, rois too large to sample
  });
});
