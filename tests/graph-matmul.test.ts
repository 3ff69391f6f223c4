// MatMul with NumPy broadcasting and 1-D promotion through InferenceSession, against a float64
// reference at GEMM tile edges in every build, against onnxruntime-node on broadcast shapes, and
// on two threads (bitwise equal to one).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { init, type Engine } from "../src/index.js";
import { InferenceSession } from "../src/graph/session.js";
import { batchOffsets, matMulBackward, matMulBackwardScratchFloats, matMulGeometry } from "../src/graph/ops/matmul.js";
import { BUILDS_UNDER_TEST, dot, engineFor, expectClose, expectGradientMatches, singleThreadBuildOf, uniform } from "./harness.js";
import { expectMatchesOrt, modelBytes, type ModelSpec, node, simdnetRun, tensor } from "./graph-models.js";

const spec = (a: number[], b: number[], constB: boolean, bData?: Float32Array): ModelSpec => ({
  nodes: [node("MatMul", ["a", "b"], ["y"])],
  inits: constB ? [tensor("b", b, bData!)] : [],
  inputs: [["a", a], ...(constB ? [] : [["b", b] as [string, number[]]])],
  outputs: ["y"],
});

/** float64 reference of NumPy matmul. */
function matmulRef(a: Float32Array, as: number[], b: Float32Array, bs: number[]): Float64Array {
  const g = matMulGeometry(
    {
      fail: (m) => {
        throw new Error(m);
      },
    },
    as,
    bs,
  );
  const batches = g.batch.reduce((p, q) => p * q, 1);
  const y = new Float64Array(batches * g.m * g.n);
  const idx = new Array<number>(g.batch.length).fill(0);
  for (let t = 0; t < batches; t++) {
    let ao = 0,
      bo = 0;
    idx.forEach((v, i) => ((ao += v * g.aBatchStrides[i]!), (bo += v * g.bBatchStrides[i]!)));
    for (let i = 0; i < g.m; i++)
      for (let j = 0; j < g.n; j++) {
        let s = 0;
        for (let p = 0; p < g.k; p++) s += a[ao + i * g.k + p]! * b[bo + p * g.n + j]!;
        y[(t * g.m + i) * g.n + j] = s;
      }
    for (let i = idx.length - 1; i >= 0; i--) {
      if (++idx[i]! < g.batch[i]!) break;
      idx[i] = 0;
    }
  }
  return y;
}

const size = (s: number[]) => s.reduce((p, q) => p * q, 1);

/** [A shape, B shape] pairs: promotion, broadcasting, tile edges of m, n, k. */
const CASES: [number[], number[]][] = [
  [[7], [7]],
  [[5], [5, 9]],
  [[3, 5], [5]],
  [[4], [2, 4, 3]],
  [[2, 3, 4], [4]],
  [
    [2, 3, 4],
    [4, 5],
  ],
  [
    [2, 1, 3, 4],
    [1, 3, 4, 5],
  ],
  [
    [3, 4],
    [2, 4, 5],
  ],
  [
    [2, 3, 4],
    [2, 4, 5],
  ],
  ...[1, 3, 4, 5, 8, 9, 12, 13, 17].map((s): [number[], number[]] => [
    [2, s, s + 1],
    [s + 1, s],
  ]),
  [
    [1, 33],
    [33, 17],
  ],
  [
    [9, 64],
    [64, 31],
  ],
  [
    [2, 2, 8, 16],
    [2, 16, 12],
  ],
];

describe.each(BUILDS_UNDER_TEST)("MatMul (%s)", (build) => {
  it.each(CASES.map((c) => [JSON.stringify(c), c]))("%s, B an input and a constant", async (_, [as, bs]) => {
    const e = await engineFor(build);
    const a = uniform(size(as), size(as) + 1),
      b = uniform(size(bs), size(bs) + 2);
    const want = matmulRef(a, as, b, bs);
    for (const constB of [false, true]) {
      const got = simdnetRun(
        e,
        modelBytes(spec(as, bs, constB, b)),
        constB ? { a: { dims: as, data: a } } : { a: { dims: as, data: a }, b: { dims: bs, data: b } },
      ).y!;
      expect(got.dims).toEqual(
        matMulGeometry(
          {
            fail: (m) => {
              throw new Error(m);
            },
          },
          as,
          bs,
        ).out,
      );
      expectClose(got.data, want, { rtol: 1e-5, atol: 1e-5, label: `${JSON.stringify([as, bs])} constB ${constB}` });
    }
  });

  it("packs a constant B once for few rows, and runs GEMMs otherwise", async () => {
    const e = await engineFor(build);
    const algo = (as: number[], bs: number[], constB: boolean) => {
      const s = InferenceSession.fromBytes(e, modelBytes(spec(as, bs, constB, uniform(size(bs), 1))));
      const steps = s.planReport(constB ? { a: as } : { a: as, b: bs }).steps.map((t) => t.algorithm);
      void s.release();
      return steps;
    };
    expect(algo([2, 3, 16], [16, 8], true)).toContain(build === "scalar" ? "matMul.gemm" : "matMul.packed");
    expect(algo([4, 3, 16], [16, 8], true)).toContain("matMul.gemm");
    expect(algo([2, 3, 16], [16, 8], false)).toContain("matMul.gemm");
  });

  it("matches onnxruntime-node on broadcast shapes", async () => {
    const e = await engineFor(build);
    for (const [as, bs] of [
      [
        [2, 1, 3, 4],
        [1, 3, 4, 5],
      ],
      [[4], [2, 4, 3]],
      [[3, 1, 5, 6], [6]],
      [
        [7, 8],
        [3, 1, 8, 2],
      ],
    ] as [number[], number[]][]) {
      await expectMatchesOrt(
        e,
        spec(as, bs, false),
        { a: { dims: as, data: uniform(size(as), 3) }, b: { dims: bs, data: uniform(size(bs), 4) } },
        { rtol: 1e-5, atol: 1e-6, label: JSON.stringify([as, bs]) },
      );
    }
  });

  it("names the shapes when inner dimensions differ", async () => {
    const e = await engineFor(build);
    const feeds = { a: { dims: [2, 3], data: new Float32Array(6) }, b: { dims: [4, 5], data: new Float32Array(20) } };
    expect(() => simdnetRun(e, modelBytes(spec([2, 3], [4, 5], false)), feeds)).toThrow(/MatMul.*inner dimensions differ: \[2,3\] x \[4,5\]/);
  });
});

describe.each(BUILDS_UNDER_TEST)("MatMul backward (%s)", (build) => {
  it.each([
    [
      [3, 4],
      [4, 5],
    ],
    [
      [2, 3, 4],
      [4, 5],
    ],
    [
      [2, 1, 3, 4],
      [1, 3, 4, 5],
    ],
    [[4], [2, 4, 3]],
    [[2, 3, 4], [4]],
    [[5], [5]],
    [
      [3, 4],
      [2, 4, 5],
    ],
    // shapes gemmThreaded runs on a transposed copy (in the scratch): B for dA, A for dB
    [
      [300, 8],
      [8, 16],
    ],
    [
      [8, 512],
      [512, 8],
    ],
  ] as [number[], number[]][])("%j x %j accumulates dA and dB that agree with finite differences", async (as, bs) => {
    const e = await engineFor(build);
    const g = matMulGeometry(
      {
        fail: (m) => {
          throw new Error(m);
        },
      },
      as,
      bs,
    );
    const ySize = size(g.out);
    const a = e.tensor([size(as)], uniform(size(as), 1)),
      b = e.tensor([size(bs)], uniform(size(bs), 2));
    const w = uniform(ySize, 3),
      wt = e.tensor([ySize], w);
    const loss = () => dot(matmulRef(a.data, as, b.data, bs), w);
    const da = e.tensor([size(as)], new Float32Array(size(as)).fill(0.5)),
      db = e.tensor([size(bs)], new Float32Array(size(bs)).fill(0.5));
    const scratch = e.empty([Math.max(1, matMulBackwardScratchFloats(g))], "f32");
    matMulBackward(e, g, da.ptr, db.ptr, wt.ptr, a.ptr, b.ptr, batchOffsets(g, 0, 0, 0), scratch.ptr);
    expectGradientMatches(
      a,
      Float32Array.from(da.data, (v) => v - 0.5),
      loss,
      { label: "dA" },
    );
    expectGradientMatches(
      b,
      Float32Array.from(db.data, (v) => v - 0.5),
      loss,
      { label: "dB" },
    );
    for (const t of [a, b, wt, da, db, scratch]) t.dispose();
  });
});

describe("MatMul on two threads", () => {
  let e2: Engine;
  beforeAll(async () => void (e2 = await init({ threads: 2 })));
  afterAll(() => e2?.dispose());

  it("gives one thread's bits: many small batched products and one big one", async () => {
    const one = await engineFor(singleThreadBuildOf(e2.build));
    for (const [as, bs] of [
      [
        [16, 8, 12],
        [16, 12, 8],
      ],
      [
        [128, 96],
        [96, 64],
      ],
      [
        [3, 70, 64],
        [64, 80],
      ],
    ] as [number[], number[]][]) {
      const feeds = { a: { dims: as, data: uniform(size(as), 5) }, b: { dims: bs, data: uniform(size(bs), 6) } };
      const bytes = modelBytes(spec(as, bs, false));
      const y1 = simdnetRun(one, bytes, feeds).y!,
        y2 = simdnetRun(e2, bytes, feeds).y!;
      expect(Array.from(y2.data)).toEqual(Array.from(y1.data));
    }
  });
});
