// The opt-in threads builds: init({ threads: n }) results equal one thread's (bitwise: every split
// keeps each element's register tile and summation order) in "relaxed-threads" (what n > 1 picks
// where relaxed SIMD runs) and in the plain "threads" build, the fallbacks say why, and workers end.
// Speed (2 threads vs 1 on conv3x3 28x28x128->128) is measured by `npm run bench` (bench/threads.mjs).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  Adam,
  conv2d,
  conv2dBackward,
  conv2dBackwardFilter,
  conv2dBackwardInput,
  conv2dOutputShape,
  type Conv2dOptions,
  convTranspose2d,
  convTranspose2dBackward,
  dense,
  denseBackward,
  packDenseWeights,
  maxPool2d,
  maxPool2dInference,
  avgPool2d,
  globalAvgPool,
  globalMaxPool,
  type Engine,
  zeroGrads,
  gemm,
  init,
  matmul,
  OutOfMemoryError,
  SGD,
  SimdnetError,
  type Tensor,
} from "../src/index.js";
import { gemmGrid } from "../src/threads/parallel.js";
import { splitRange } from "../src/threads/partition.js";
import { COUNT, MAX_PARTS, NEXT, QUEUE_WORDS, THREADED_KERNELS, THREADS_MAX_PAGES, takePart } from "../src/threads/protocol.js";
import { chooseConvAlgorithm, CONV_ALGORITHMS, CONV_PASSES, convGeometry, supportingConvAlgorithms } from "../src/ops/conv2d_algorithms.js";
import { type BuildName, detectBuild } from "../src/runtime.js";
import { engineFor, expectClose, THREADS_BUILDS_UNDER_TEST, uniform } from "./harness.js";

type Shape4 = [number, number, number, number];

/** Fills the free memory above the heap's top with NaN, so an element a kernel forgets to write shows. */
function poisonFreeMemory(e: Engine): void {
  const block = e.empty([1 << 20], "f32", "poison");
  block.data.fill(NaN);
  block.dispose(); // the next allocations reuse these bytes
}

/** Runs `fn` on one thread and then split over every thread of `e`; returns both results as copies. */
function bothWays(e: Engine, fn: () => Tensor[]): [Float32Array[], Float32Array[]] {
  const run = (minWork: number) =>
    e.tidy(() => {
      poisonFreeMemory(e);
      e.minParallelWork = minWork;
      return fn().map((t) => t.data.slice());
    });
  try {
    return [run(Infinity), run(0)];
  } finally {
    e.minParallelWork = 1 << 18;
  }
}

function expectBitwise(single: Float32Array[], threaded: Float32Array[], label: string): void {
  expect(threaded.length).toBe(single.length);
  single.forEach((s, i) => {
    const t = threaded[i]!;
    const bad = s.findIndex((v, j) => !Object.is(v, t[j]));
    expect(bad, `${label} output ${i} element ${bad}: ${t[bad]} vs one thread's ${s[bad]}`).toBe(-1);
  });
}

const CONV_CASES: { name: string; x: Shape4; w: Shape4; options: Conv2dOptions }[] = [
  { name: "3x3 pad 1, odd sizes, batch 3", x: [3, 7, 9, 5], w: [3, 3, 5, 11], options: { pads: 1 } },
  { name: "stride 2, asymmetric pads", x: [2, 9, 11, 3], w: [3, 3, 3, 17], options: { strides: 2, pads: [0, 2, 1, 0] } },
  { name: "5x3 dilation [2,1]", x: [1, 13, 8, 9], w: [5, 3, 9, 19], options: { dilations: [2, 1], pads: 2 } },
  { name: "groups 2", x: [2, 6, 9, 8], w: [3, 3, 4, 10], options: { groups: 2, pads: 1 } },
  { name: "groups 3 stride 2", x: [2, 7, 6, 9], w: [2, 2, 3, 12], options: { groups: 3, strides: 2 } },
  { name: "groups 2, 32 channels each (group slices)", x: [2, 9, 11, 64], w: [3, 3, 32, 48], options: { groups: 2, pads: 1 } },
  { name: "depthwise C=21", x: [2, 7, 9, 21], w: [3, 3, 1, 21], options: { groups: 21, pads: 1 } },
  { name: "depthwise multiplier 2", x: [1, 5, 7, 5], w: [3, 3, 1, 10], options: { groups: 5, pads: 1 } },
  { name: "depthwise 3x3 C=8, tiles (dx gathered)", x: [2, 6, 21, 8], w: [3, 3, 1, 8], options: { groups: 8, pads: 1 } },
  { name: "1 output row", x: [1, 3, 17, 4], w: [3, 3, 4, 33], options: {} },
  { name: "1x1 pointwise (gemm)", x: [2, 5, 7, 17], w: [1, 1, 17, 35], options: {} },
  { name: "1x1 pointwise, 1 pixel", x: [1, 1, 1, 9], w: [1, 1, 9, 41], options: {} },
  // a 1x1 image's one inside tap, and tiny images (src/ops/conv2d_tiny.ts): GEMM columns split at multiples of 8
  { name: "1x1 image, 3x3 pad 1 (the centre tap's GEMM)", x: [3, 1, 1, 24], w: [3, 3, 24, 40], options: { pads: 1 } },
  { name: "tiny 2x2 image, 3x3 pad 1", x: [3, 2, 2, 24], w: [3, 3, 24, 40], options: { pads: 1 } },
  { name: "tiny 3x3 image, pads [1,0,2,1]", x: [2, 3, 3, 16], w: [3, 3, 16, 36], options: { pads: [1, 0, 2, 1] } },
  // the stem kernel (C <= 4, OC % 8 == 0): rows split across images, each part padding its own rows
  { name: "stem 7x7 stride 2, 3 images", x: [3, 13, 17, 3], w: [7, 7, 3, 16], options: { strides: 2, pads: 3 } },
  { name: "stem 4 channels, dilation 2", x: [2, 6, 9, 4], w: [3, 3, 4, 8], options: { pads: [2, 1, 2, 3], dilations: 2 } },
  // the blocked kernel (C >= 16, OC % 8 == 0, outputs 16+ wide): output channels split at multiples of 8
  { name: "blocked 5x5, 3 channel blocks of 8", x: [2, 9, 18, 20], w: [5, 5, 20, 24], options: { pads: 2 } },
  { name: "blocked stride 2, 40 input channels", x: [1, 11, 35, 40], w: [3, 3, 40, 16], options: { strides: 2, pads: 1 } },
  // Winograd F(2x2, 3x3): tiles split at multiples of the tile block (204 tiles at 16 + 24 padded
  // channels: 220 tiles make 2 blocks; 32 at 196 + 200: 40 tiles make 2), dw at multiples of 16 input channels
  { name: "Winograd, channel tails, 2 tile blocks", x: [2, 20, 22, 13], w: [3, 3, 13, 21], options: { pads: 1 } },
  { name: "Winograd, wide, 2 tile blocks", x: [2, 9, 7, 196], w: [3, 3, 196, 200], options: { pads: [1, 0, 1, 2] } },
];

/** The threads build init({ threads: n > 1 }) picks here: relaxed-threads where relaxed SIMD runs. */
const AUTO_THREADS_BUILD = THREADS_BUILDS_UNDER_TEST.at(-1)!;

// 2 and 3 threads of the build "auto" picks, and 2 of the plain threads build where that is another
// (the build Safari and Firefox run): each split check below runs in both threads builds.
const ENGINES: { threads: number; build: "auto" | BuildName; expected: BuildName }[] = [
  { threads: 2, build: "auto", expected: AUTO_THREADS_BUILD },
  { threads: 3, build: "auto", expected: AUTO_THREADS_BUILD },
  ...(AUTO_THREADS_BUILD === "threads" ? [] : [{ threads: 2, build: "threads" as const, expected: "threads" as const }]),
];
describe.each(ENGINES)("init({ threads: $threads, build: $build })", ({ threads, build, expected }) => {
  let e: Engine;
  beforeAll(async () => {
    e = await init({ threads, build });
  });
  afterAll(() => e.dispose());

  it(`runs the ${expected} build with every thread and its own parameter block each`, () => {
    expect(e.build).toBe(expected);
    expect(e.threads).toBe(threads);
    expect(e.threadsReason).toBe("");
    // one parameter block for each part a call may have (MAX_PARTS), all distinct, made at init
    expect(e.paramBlocks.length).toBe(MAX_PARTS);
    expect(new Set(e.paramBlocks).size).toBe(MAX_PARTS);
    expect(e.paramBlock).toBe(e.paramBlocks[0]);
    expect(e.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  describe.each(CONV_CASES)("conv2d $name", ({ x: xs, w: ws, options }) => {
    const size = (s: readonly number[]) => s.reduce((a, d) => a * d, 1);

    it("forward and backward are bitwise one thread's", () => {
      const [single, threaded] = bothWays(e, () => {
        const x = e.tensor(xs, uniform(size(xs), 1));
        const w = e.tensor(ws, uniform(size(ws), 2));
        const y = conv2d(x, w, null, options);
        const dy = e.tensor(y.shape, uniform(y.size, 3));
        // accumulate onto non-zero gradients, as the kernels must
        const g = conv2dBackward(dy, x, w, options, { dx: e.tensor(xs, uniform(size(xs), 4)), dw: e.tensor(ws, uniform(size(ws), 5)) });
        return [y, g.dx, g.dw, g.db!];
      });
      expectBitwise(single, threaded, "conv2d");
    });

    it("transposed forward and backward are bitwise one thread's", () => {
      // convTranspose2d's weights are [KH, KW, Cout/groups, Cin]: reuse the conv's w as-is, x is a conv output
      const [single, threaded] = bothWays(e, () => {
        const w = e.tensor(ws, uniform(size(ws), 6));
        const convOut = conv2d(e.zeros(xs), w, null, options).shape;
        const cin = ws[3],
          cout = ws[2] * (options.groups ?? 1);
        const tw = e.tensor([ws[0], ws[1], ws[2], cin], uniform(size(ws), 7));
        const x = e.tensor([convOut[0]!, convOut[1]!, convOut[2]!, cin], uniform(size(convOut), 8));
        const topts = { ...options };
        const y = convTranspose2d(x, tw, null, topts);
        expect(y.shape[3]).toBe(cout);
        const g = convTranspose2dBackward(e.tensor(y.shape, uniform(y.size, 9)), x, tw, topts, { dx: e.zeros(x.shape) });
        return [y, g.dx, g.dw];
      });
      expectBitwise(single, threaded, "convTranspose2d");
    });
  });

  it("every conv algorithm that supports a case, forced, splits its calls into its own threaded kernels with one thread's bits", () => {
    const size = (s: readonly number[]) => s.reduce((a, d) => a * d, 1);
    const used = new Map<string, Set<string>>();
    const target = { build: e.build, threads: e.threads };
    for (const { x: xs, w: ws, options } of CONV_CASES) {
      const g = convGeometry("t", xs, ws, options);
      for (const pass of CONV_PASSES) {
        for (const alg of supportingConvAlgorithms(pass, g, target)) {
          // per-pixel GEMMs on larger images: thousands of tiny split calls (slow on shared cores)
          if (alg.name === "conv2d.tiny" && g.h * g.w > 9) continue;
          const opts = { ...options, algorithm: alg.name };
          const spy = vi.spyOn(e, "parallel");
          let threadedCalls: string[] = [];
          const [single, threaded] = bothWays(e, () => {
            spy.mockClear();
            const x = e.tensor(xs, uniform(size(xs), 1)),
              w = e.tensor(ws, uniform(size(ws), 2));
            const dy = e.tensor(conv2dOutputShape(xs, ws, options), uniform(g.n * g.oh * g.ow * g.oc, 3));
            const out =
              pass === "forward"
                ? conv2d(x, w, null, opts)
                : pass === "backward_input"
                  ? conv2dBackwardInput(dy, w, xs, opts, e.tensor(xs, uniform(size(xs), 4)))
                  : conv2dBackwardFilter(dy, x, ws, opts, e.tensor(ws, uniform(size(ws), 5)));
            threadedCalls = spy.mock.calls.filter(([, parts]) => parts.length > 1).map(([kernel]) => kernel);
            return [out];
          });
          spy.mockRestore();
          expectBitwise(single, threaded, `${alg.name} ${pass} of ${JSON.stringify({ xs, ws, options })}`);
          // group slices run each group on the algorithm chosen for it, which splits its own kernels
          const nested =
            alg.name === "conv2d.group_slices" ? chooseConvAlgorithm(pass, { ...g, c: g.c / g.groups, oc: g.oc / g.groups, groups: 1 }, target) : alg;
          for (const k of threadedCalls) {
            expect(nested.threadedKernels as readonly string[], `${alg.name} ${pass} splits ${k}`).toContain(k);
            if (nested !== alg) continue;
            let set = used.get(alg.name);
            if (!set) used.set(alg.name, (set = new Set()));
            set.add(k);
          }
        }
      }
    }
    // each algorithm's list is exactly what its split calls use (none stale; group slices' groups split their own)
    for (const alg of CONV_ALGORITHMS) expect([...(used.get(alg.name) ?? [])].sort(), alg.name).toEqual([...alg.threadedKernels].sort());
    expect(new Set(THREADED_KERNELS).size).toBe(THREADED_KERNELS.length);
    for (const alg of CONV_ALGORITHMS) for (const k of alg.threadedKernels) expect(THREADED_KERNELS).toContain(k);
  }, 180_000);

  it("threaded conv2d matches the single-threaded build of the same instructions within float rounding", async () => {
    const simd = await engineFor(e.build === "relaxed-threads" ? "relaxed" : "simd");
    const xs: Shape4 = [2, 11, 13, 19],
      ws: Shape4 = [3, 3, 19, 21];
    const run = (en: Engine) =>
      en.tidy(() => {
        en.minParallelWork = 0;
        const x = en.tensor(xs, uniform(2 * 11 * 13 * 19, 11));
        const w = en.tensor(ws, uniform(3 * 3 * 19 * 21, 12));
        const y = conv2d(x, w, null, { pads: 1, strides: [1, 2] });
        const g = conv2dBackward(en.tensor(y.shape, uniform(y.size, 13)), x, w, { pads: 1, strides: [1, 2] });
        en.minParallelWork = 1 << 18;
        return [y.data.slice(), g.dx.data.slice(), g.dw.data.slice()];
      });
    const a = run(e),
      b = run(simd);
    a.forEach((v, i) => expectClose(v, b[i]!, { rtol: 1e-6, atol: 1e-6, label: `output ${i}` }));
  });

  // gemm: C split into a grid of blocks (gemmGrid: rows when m is large, columns when m is small,
  // both in between); every transpose case and the vector paths (m == 1, n == 1), accumulation
  // and k == 0.
  const GEMM_CASES: [number, number, number][] = [
    [40, 90, 37],
    [24, 200, 64],
    [67, 13, 9],
    [5, 71, 19],
    [1, 45, 7],
    [37, 1, 11],
    [33, 29, 0],
    [9, 9, 300],
    [130, 3, 5],
  ];
  it("hands out every part once: the calling thread from the front, workers from the back", () => {
    const queue = new Int32Array(QUEUE_WORDS);
    for (const count of [1, 2, 7, 8, MAX_PARTS]) {
      for (const pattern of ["front", "back", "alternate", "mostly back"]) {
        queue[COUNT] = count;
        Atomics.store(queue, NEXT, 0);
        const taken: number[] = [],
          fronts: number[] = [];
        for (let i = 0; ; i++) {
          const fromBack = pattern === "back" || (pattern === "alternate" && i % 2 === 1) || (pattern === "mostly back" && i % 3 !== 0);
          const p = takePart(queue, fromBack);
          if (p < 0) break;
          taken.push(p);
          if (!fromBack) fronts.push(p);
        }
        expect(
          [...taken].sort((a, b) => a - b),
          `${count} parts, ${pattern}`,
        ).toEqual([...Array(count).keys()]);
        expect(fronts, "the front takes parts in order from 0").toEqual([...Array(fronts.length).keys()]);
        expect(takePart(queue, false)).toBe(-1);
        expect(takePart(queue, true)).toBe(-1);
      }
    }
  });

  it("cuts products into the grid of blocks that re-reads the operands least", () => {
    expect(gemmGrid(3136, 64, 2)).toEqual([8, 1]); // ResNet-50's 56x56x256 -> 64: rows
    expect(gemmGrid(49, 2048, 2)).toEqual([1, 8]); // its 7x7x512 -> 2048: columns (B is 4 MB)
    expect(gemmGrid(196, 256, 2)).toEqual([2, 4]); // its 14x14x1024 -> 256: both
    expect(gemmGrid(40, 90, 2)).toEqual([2, 4]);
    expect(gemmGrid(9, 9, 2)).toEqual([2, 2]); // as few units as blocks wanted: every unit its own block
    expect(gemmGrid(5, 300, 3)).toEqual([1, 12]); // 3 threads: 12 parts
  });

  describe.each(GEMM_CASES)("gemm m=%i n=%i k=%i", (m, n, k) => {
    it.each([
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ])("transA %s transB %s: bitwise one thread's", (transA, transB) => {
      const [single, threaded] = bothWays(e, () => {
        const a = e.tensor(transA ? [k, m] : [m, k], uniform(m * k, 21));
        const b = e.tensor(transB ? [n, k] : [k, n], uniform(k * n, 22));
        const c = e.tensor([m, n], uniform(m * n, 23));
        return [matmul(a, b, { transA, transB }), gemm(a, b, c, { transA, transB, alpha: 0.5, beta: 2 })];
      });
      expectBitwise(single, threaded, "gemm");
    });
  });

  it("pooling forwards (split by output rows) are bitwise one thread's", () => {
    const [single, threaded] = bothWays(e, () => {
      const x = e.tensor([3, 9, 11, 13], uniform(3 * 9 * 11 * 13, 51));
      const generic = { kernel: 3, strides: [2, 1] as [number, number], pads: [1, 0, 1, 2] as [number, number, number, number] };
      const plain = { kernel: 2, strides: 2 };
      const max = maxPool2d(x, generic),
        max2 = maxPool2d(x, plain);
      const asFloats = (argmax: Tensor) => e.tensor(argmax.shape, Float32Array.from(argmax.ints)); // indices < 2^24: exact
      return [
        max.y,
        asFloats(max.argmax),
        max2.y,
        asFloats(max2.argmax),
        maxPool2dInference(x, generic),
        maxPool2dInference(x, plain),
        avgPool2d(x, { ...generic, countIncludePad: true }),
        globalAvgPool(x),
        globalMaxPool(x).y,
        maxPool2d(e.tensor([2, 7, 9, 16], uniform(2 * 7 * 9 * 16, 52)), generic).y, // pixels two at a time (C % 8 == 0)
      ];
    });
    expectBitwise(single, threaded, "pooling");
  });

  it("an allocation past the shared memory's maximum (2 GiB - 64 KiB by default) names that maximum", () => {
    let err: unknown;
    try {
      e.zeros([600_000_000]); // 2.4 GB
    } catch (caught) {
      err = caught;
    }
    expect(err).toBeInstanceOf(OutOfMemoryError);
    expect((err as OutOfMemoryError).bytesLimit).toBe(THREADS_MAX_PAGES * 65536);
    expect(e.tensor([2], [1, 2]).data[1]).toBe(2); // the engine keeps working
  });

  it("the stem conv runs on the stem kernel split by rows, wide convs on the blocked kernel split by padded rows then channels, few-channel convs by images", () => {
    const spy = vi.spyOn(e, "parallel");
    try {
      e.tidy(() => {
        e.minParallelWork = 0;
        conv2d(e.tensor([2, 9, 11, 3], uniform(594, 41)), e.tensor([3, 3, 3, 8], uniform(216, 42)), null, { pads: 1 });
      });
      const calls = spy.mock.calls.filter(([kernel]) => kernel === "conv2d_stem_f32_forward");
      expect(calls).toHaveLength(1);
      expect(calls[0]![1].length).toBeGreaterThan(1);
      e.tidy(() => {
        conv2d(e.tensor([1, 6, 18, 16], uniform(1728, 43)), e.tensor([3, 3, 16, 24], uniform(3456, 44)), null, { dilations: [2, 1] });
      });
      // one image: its padded rows split over the threads, then its output channels
      const blocked = spy.mock.calls.filter(([kernel]) => kernel === "conv2d_blocked_f32_forward");
      expect(blocked).toHaveLength(2);
      expect(blocked[0]![1].length).toBeGreaterThan(1);
      expect(blocked[1]![1].length).toBeGreaterThan(1);
      // LeNet's second conv (6 -> 16, 5x5): the few-channel kernels, forward and input gradient split by images
      e.tidy(() => {
        const x = e.tensor([4, 14, 14, 6], uniform(4 * 14 * 14 * 6, 45)),
          w = e.tensor([5, 5, 6, 16], uniform(2400, 46));
        const y = conv2d(x, w, null, {});
        conv2dBackward(e.tensor(y.shape, uniform(y.size, 47)), x, w, {}, {}, false);
      });
      for (const kernel of ["conv2d_small_f32_forward", "conv2d_small_f32_backward_input"]) {
        const calls = spy.mock.calls.filter(([k]) => k === kernel);
        expect(calls, kernel).toHaveLength(1);
        expect(calls[0]![1].length, kernel).toBeGreaterThan(1);
      }
    } finally {
      e.minParallelWork = 1 << 18;
      spy.mockRestore();
    }
  });

  it("optimizer updates and zeroGrads (split by elements) are bitwise one thread's", () => {
    const [single, threaded] = bothWays(e, () => {
      const out: Tensor[] = [];
      const optimizers = [
        () => new SGD({ lr: 0.1, weightDecay: 0.01 }),
        () => new SGD({ lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }),
        () => new Adam({ lr: 0.01, weightDecay: 0.02, decoupled: true }),
        () => new Adam({ lr: 3e-3, beta1: 0.8, weightDecay: 1e-3 }),
      ];
      optimizers.forEach((make, i) => {
        const opt = make();
        const value = e.tensor([1001], uniform(1001, 41 + i)),
          grad = e.tensor([1001], uniform(1001, 51 + i));
        opt.step([{ value, grad }]);
        grad.set(uniform(1001, 61 + i));
        opt.step([{ value, grad }]); // with the state of the first step
        opt.dispose();
        const zeroed = e.tensor([999], uniform(999, 71 + i));
        zeroGrads([{ value: zeroed, grad: zeroed }]);
        out.push(value, zeroed);
      });
      return out;
    });
    expectBitwise(single, threaded, "optimizers");
    expect(threaded[1]!.every((v) => v === 0)).toBe(true);
  });

  it("dense forward and backward at odd sizes are bitwise one thread's", () => {
    const [single, threaded] = bothWays(e, () => {
      const x = e.tensor([7, 3, 5, 3], uniform(315, 31));
      const w = e.tensor([45, 23], uniform(45 * 23, 32));
      const b = e.tensor([23], uniform(23, 33));
      const y = dense(x, w, b);
      const g = denseBackward(e.tensor(y.shape, uniform(y.size, 34)), x, w);
      const packed = packDenseWeights(w); // strips split over the threads
      const yp = dense(x, packed, b);
      const y1 = dense(e.tensor([1, 45], uniform(45, 35)), packed);
      packed.dispose();
      // 512 outputs: w's rows 2 KB apart, parts of 24+ rows pack their strips in their own scratch
      const wide = dense(e.tensor([600, 45], uniform(600 * 45, 36)), e.tensor([45, 512], uniform(45 * 512, 37)));
      return [y, g.dx, g.dw, g.db!, yp, y1, wide];
    });
    expectBitwise(single, threaded, "dense");
  });

  it("a trap in a part (whichever thread takes it) is an error on the calling thread, and the pool keeps working", () => {
    const a = e.tensor([8, 8], uniform(64, 1)),
      b = e.tensor([8, 8], uniform(64, 2)),
      c = e.zeros([8, 8]);
    const beyond = e.memory.buffer.byteLength + 4096; // out of bounds: the wasm access traps
    const part = (cPtr: number, i0: number, i1: number) => [cPtr, a.ptr, b.ptr, 8, 8, 8, 0, 0, 0, i0, i1, 0, 8];
    // parts go to whichever thread is free: a trap on a worker is "worker thread(s) trapped", on
    // the calling thread the wasm RuntimeError itself (after the workers have finished)
    const trapped = /worker thread\(s\) trapped|out of bounds/;
    const parts = Array.from({ length: 8 }, (_, t) => part(t === 7 ? beyond : c.ptr, t, t + 1));
    expect(() => e.parallel("gemm_f32_block", parts)).toThrow(trapped);
    expect(() => e.parallel("gemm_f32_block", [part(beyond, 0, 1), ...parts.slice(1, -1), part(c.ptr, 7, 8)])).toThrow(trapped);
    // every part traps: whichever threads take them, the call fails and the pool survives
    expect(() =>
      e.parallel(
        "gemm_f32_block",
        parts.map((_, t) => part(beyond, t, t + 1)),
      ),
    ).toThrow(trapped);
    expect(e.threads).toBe(threads);
    e.minParallelWork = 0;
    const [single, threaded] = bothWays(e, () => [matmul(a, b)]);
    expectBitwise(single, threaded, "after a trap");
  });

  it("ops still run after dispose(), on one thread", () => {
    const e2Promise = init({ threads, build });
    return e2Promise.then((e2) => {
      e2.dispose();
      e2.dispose(); // idempotent
      expect(e2.threads).toBe(1);
      e2.minParallelWork = 0;
      const y = conv2d(e2.tensor([1, 4, 4, 2], uniform(32, 1)), e2.tensor([3, 3, 2, 3], uniform(54, 2)), null, { pads: 1 });
      expect(y.shape).toEqual([1, 4, 4, 3]);
    });
  });
});

// A worker that dies or never answers must make the call throw, never hang the calling thread,
// and leave the engine on one thread. These calls block the test's own thread in Atomics.wait, where
// no vitest timeout can fire: the engines here get a 20 s threadTimeoutMs as a backstop, so a
// regression in the dead-worker checks fails the elapsed-time and message assertions instead of
// hanging; the deadline itself is tested in a child process under spawnSync's timeout ("workers end").
describe("a worker that dies", () => {
  const BACKSTOP_MS = 20_000;
  let e: Engine | undefined;
  afterEach(() => e?.dispose());

  /** A 3-thread engine and a 48x48 matmul that it splits over all three threads. */
  async function engineWithWork() {
    e = await init({ threads: 3, threadTimeoutMs: BACKSTOP_MS });
    e.minParallelWork = 0;
    const a = e.tensor([48, 8], uniform(48 * 8, 41)),
      b = e.tensor([8, 48], uniform(8 * 48, 42));
    const product = () => matmul(a, b).data.slice();
    const expected = product(); // threaded; bitwise one thread's (checked above)
    return { e, product, expected };
  }

  /** Runs fn, which must throw; returns the error and how long it took. */
  function timeThrow(fn: () => unknown): { error: Error; ms: number } {
    const t0 = performance.now();
    try {
      fn();
    } catch (error) {
      return { error: error as Error, ms: performance.now() - t0 };
    }
    return expect.fail("expected the call to throw");
  }

  function expectOneThreadAfter(e: Engine, product: () => Float32Array, expected: Float32Array, why: RegExp): void {
    expect(e.threads).toBe(1);
    expect(e.threadPool).toBeUndefined();
    expect(e.threadsReason).toMatch(/^1 thread: the worker pool stopped after a failure: /);
    expect(e.threadsReason).toMatch(why);
    expectBitwise([expected], [product()], "one thread after the failure");
  }

  it("terminated from outside while idle: the next threaded call throws at once, naming it and the kernel", { timeout: 30_000 }, async () => {
    const { e, product, expected } = await engineWithWork();
    const pool = e.threadPool!;
    await pool.testTerminateWorker(2);
    expect(e.threads).toBe(3); // found out by the next call that needs the workers
    const { error, ms } = timeThrow(product);
    expect(error).toBeInstanceOf(SimdnetError);
    expect(error.message).toMatch(/^gemm_f32_block: simdnet worker 2 died \(its thread exited with code \d+\) before the call; /);
    expect(error.message).toMatch(/this engine runs on one thread from now on/);
    expect(ms).toBeLessThan(2_000); // no wait at all: nothing was posted
    expect(pool.workerCount).toBe(0); // the other worker is terminated too
    expect(pool.failure?.straggler).toBe(false);
    expectOneThreadAfter(e, product, expected, /worker 2 died/);
    // no deadline ran, so no memory is held back
    expect(e.heap.bytesQuarantined).toBe(0);
  });

  it("crashed while idle (an uncaught error in its JS): the error event marks it dead", { timeout: 30_000 }, async () => {
    const { e, product, expected } = await engineWithWork();
    await e.threadPool!.testHoldWorker(1, 0, true); // resolves on its exit
    const { error, ms } = timeThrow(product);
    expect(error.message).toMatch(/^gemm_f32_block: simdnet worker 1 died \(uncaught error: .*crash\) before the call/);
    expect(ms).toBeLessThan(2_000);
    expectOneThreadAfter(e, product, expected, /worker 1 died \(uncaught error/);
  });

  it("dying during a call (its loop throws): the caller sees the DEAD mark and throws then, not at the deadline", { timeout: 30_000 }, async () => {
    const { e, product, expected } = await engineWithWork();
    const pool = e.threadPool!;
    void pool.testHoldWorker(1, 1_000, true); // busy for 1 s, then its loop throws
    const { error, ms } = timeThrow(product);
    expect(error).toBeInstanceOf(SimdnetError);
    expect(error.message).toMatch(/^gemm_f32_block: simdnet worker 1 died \(its loop ended with an error\) during the call; /);
    expect(ms).toBeGreaterThan(500); // it waited for the busy worker...
    expect(ms).toBeLessThan(BACKSTOP_MS / 2); // ...until it died, not until the deadline
    expect(pool.failure?.straggler).toBe(false); // worker 2 had finished its part
    expectOneThreadAfter(e, product, expected, /worker 1 died \(its loop ended with an error\) during the call/);
  });

  it("a trap in a part is not a death: the pool keeps its workers", { timeout: 30_000 }, async () => {
    const { e, product, expected } = await engineWithWork();
    const beyond = e.memory.buffer.byteLength + 4096;
    const part = (i0: number, i1: number, c: number) => [c, 0, 0, 8, 8, 8, 0, 0, 0, i0, i1, 0, 8];
    expect(() => e.parallel("gemm_f32_block", [part(0, 0, beyond), part(0, 0, beyond), part(0, 8, beyond)])).toThrow(
      /worker thread\(s\) trapped|out of bounds/,
    );
    expect(e.threads).toBe(3);
    expect(e.threadsReason).toBe("");
    expectBitwise([expected], [product()], "after a trap");
  });
});

describe("splitRange", () => {
  it("covers [0, total) with aligned, non-empty, near-equal parts", () => {
    for (const [total, parts, align] of [
      [10, 3, 1],
      [100, 2, 8],
      [7, 4, 8],
      [17, 3, 8],
      [1, 5, 1],
      [64, 4, 16],
    ] as const) {
      const r = splitRange(total, parts, align);
      expect(r[0]![0]).toBe(0);
      expect(r[r.length - 1]![1]).toBe(total);
      expect(r.length).toBeLessThanOrEqual(parts);
      r.forEach(([a, b], i) => {
        expect(b).toBeGreaterThan(a);
        if (i > 0) expect(a).toBe(r[i - 1]![1]);
        if (i < r.length - 1) expect(b % align).toBe(0);
      });
    }
    expect(splitRange(100, 2, 8)).toEqual([
      [0, 48],
      [48, 100],
    ]);
  });
});

describe("fallbacks", () => {
  afterEach(() => vi.restoreAllMocks());

  it("threads: 1 (the default) is one thread of the best build, no reason", async () => {
    const e = await init({ threads: 1 });
    expect(e.threads).toBe(1);
    expect(e.threadsReason).toBe("");
    expect(e.build).toBe(await detectBuild());
  });

  it("without SharedArrayBuffer: one thread, with the reason", async () => {
    const sab = globalThis.SharedArrayBuffer;
    // @ts-expect-error: simulating a runtime without shared memory (a page without cross-origin isolation)
    delete globalThis.SharedArrayBuffer;
    try {
      const e = await init({ threads: 4 });
      expect(e.threads).toBe(1);
      expect(e.build).toBe(await detectBuild());
      expect(e.threadsReason).toMatch(/SharedArrayBuffer/);
      // a forced threads build cannot fall back
      for (const build of THREADS_BUILDS_UNDER_TEST) await expect(init({ build, threads: 2 })).rejects.toThrow(/SharedArrayBuffer/);
    } finally {
      globalThis.SharedArrayBuffer = sab;
    }
  });

  it("where Atomics.wait is not allowed (a browser main thread): one thread, with the reason", async () => {
    vi.spyOn(Atomics, "wait").mockImplementation(() => {
      throw new TypeError("Atomics.wait cannot be called in this context");
    });
    const e = await init({ threads: 2 });
    expect(e.threads).toBe(1);
    expect(e.threadsReason).toMatch(/Atomics\.wait/);
  });

  it("bad thread counts and a non-threads build with threads are errors", async () => {
    await expect(init({ threads: 0 })).rejects.toThrow(SimdnetError);
    await expect(init({ threads: 1.5 })).rejects.toThrow(/threads/);
    for (const build of ["relaxed", "simd", "scalar"] as const) {
      await expect(init({ build, threads: 2 })).rejects.toThrow(`threads: 2 needs a threads build ('threads' or 'relaxed-threads'), not '${build}'`);
    }
  });

  it("threadTimeoutMs must be a number > 0 (Infinity: no deadline)", async () => {
    for (const bad of [0, -5, NaN, "100" as unknown as number]) {
      await expect(init({ threads: 2, threadTimeoutMs: bad })).rejects.toThrow(/threadTimeoutMs must be a number > 0/);
    }
    expect((await init({ threadTimeoutMs: Infinity })).threads).toBe(1);
  });

  it.each(THREADS_BUILDS_UNDER_TEST)("the %s build alone (threads: 1) runs over a shared memory with no workers", async (build) => {
    const e = await init({ build });
    expect(e.build).toBe(build);
    expect(e.threads).toBe(1);
    expect(e.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(e.memoryLimit).toBe(THREADS_MAX_PAGES * 65536);
    const y = conv2d(e.tensor([1, 3, 3, 1], uniform(9, 1)), e.tensor([3, 3, 1, 1], uniform(9, 2)));
    expect(y.shape).toEqual([1, 1, 1, 1]);
  });

  it("both threads builds declare the shared memory maximum the host assumes (THREADS_MAX_PAGES)", () => {
    const targets = JSON.parse(readFileSync(join(__dirname, "../asconfig.json"), "utf8")).targets;
    for (const build of ["threads", "relaxed-threads"]) {
      expect(targets[build], build).toMatchObject({ importMemory: true, sharedMemory: true, maximumMemory: THREADS_MAX_PAGES });
      expect(targets[build].enable, build).toEqual(expect.arrayContaining(["simd", "threads"]));
    }
    expect(targets["relaxed-threads"].enable).toContain("relaxed-simd");
    expect(targets.threads.enable).not.toContain("relaxed-simd");
  });
});

describe("workers end", () => {
  let dir: string;
  beforeAll(async () => {
    // the bundled package, as users get it (node:worker_threads external, worker source inlined)
    dir = mkdtempSync(join(tmpdir(), "simdnet-threads-"));
    await esbuild.build({
      entryPoints: [join(__dirname, "../src/index.ts")],
      bundle: true,
      format: "esm",
      target: "es2022",
      platform: "neutral",
      external: ["node:worker_threads"],
      outfile: join(dir, "simdnet.mjs"),
      logLevel: "warning",
    });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const runNode = (body: string) =>
    spawnSync(process.execPath, ["--input-type=module", "-e", `import * as s from ${JSON.stringify(join(dir, "simdnet.mjs"))};\n${body}`], {
      encoding: "utf8",
      timeout: 20_000,
    });

  it("an idle pool does not keep Node alive; dispose() ends the workers", () => {
    const r = runNode(`
      const e = await s.init({ threads: 2 });
      e.minParallelWork = 0;
      const y = s.conv2d(e.tensor([1, 8, 8, 4], new Float32Array(256).fill(1)), e.tensor([3, 3, 4, 8], new Float32Array(288).fill(1)), null, { pads: 1 });
      console.log(JSON.stringify({ threads: e.threads, build: e.build, center: y.data[(3 * 8 + 3) * 8] }));
      // no dispose: the process must still exit by itself
    `);
    expect(r.status, r.stderr).toBe(0);
    // this child Node has no --experimental-wasm-relaxed-simd: auto takes the plain threads build
    expect(JSON.parse(r.stdout.trim())).toEqual({ threads: 2, build: "threads", center: 36 });

    const r2 = runNode(`
      const e = await s.init({ threads: 3 });
      e.dispose();
      await new Promise((ok) => setTimeout(ok, 200));
      console.log(JSON.stringify({ threads: e.threads }));
    `);
    expect(r2.status, r2.stderr).toBe(0);
    expect(JSON.parse(r2.stdout.trim())).toEqual({ threads: 1 });
  });

  it("where relaxed SIMD is missing, a forced relaxed-threads build is a SimdnetError naming it", () => {
    const r = runNode(`
      try {
        await s.init({ build: "relaxed-threads", threads: 2 });
        console.log(JSON.stringify({ refused: false }));
      } catch (err) {
        console.log(JSON.stringify({ refused: err instanceof s.SimdnetError, message: err.message }));
      }
    `);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.refused).toBe(true);
    expect(out.message).toMatch(/the 'relaxed-threads' wasm build cannot run here/);
  });

  it("a worker that does not finish within threadTimeoutMs: the call throws, the engine runs one thread", () => {
    // In a child process: a regression that waits forever is killed by spawnSync's timeout.
    const r = runNode(`
      const e = await s.init({ threads: 3, threadTimeoutMs: 200 });
      e.minParallelWork = 0;
      const a = e.tensor([48, 8], Float32Array.from({ length: 384 }, (_, i) => (i % 7) - 3));
      const b = e.tensor([8, 48], Float32Array.from({ length: 384 }, (_, i) => (i % 5) - 2));
      const expected = Array.from(s.matmul(a, b).data);
      const c = e.zeros([48, 48]); // the output of the call that times out
      const pool = e.threadPool;
      pool.testHoldWorker(2, 10000); // busy for 10 s
      const t0 = performance.now();
      let error;
      try { s.matmul(a, b, {}, c); } catch (err) { error = err; }
      const ms = performance.now() - t0;
      // worker 2 was late, not dead: until its thread has ended it might still store into c, so
      // c's bytes are not handed out again after c.dispose() until the workers have exited
      c.dispose();
      const d = e.empty([48, 48]);
      const quarantined = { reused: d.ptr === c.ptr, bytes: e.heap.bytesQuarantined };
      d.dispose();
      await Promise.race([pool.exited, new Promise((_, no) => setTimeout(() => no(new Error("workers did not exit")), 5000).unref())]);
      const released = { bytes: e.heap.bytesQuarantined, reused: e.empty([48, 48]).ptr === c.ptr };
      console.log(JSON.stringify({
        name: error?.name, message: error?.message, ms, straggler: pool.failure?.straggler, workers: pool.workerCount,
        threads: e.threads, reason: e.threadsReason, quarantined, released,
        same: JSON.stringify(Array.from(s.matmul(a, b).data)) === JSON.stringify(expected),
      }));
    `);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.name).toBe("SimdnetError");
    expect(out.message).toMatch(/^gemm_f32_block: simdnet worker 2 did not finish within 200 ms \(threadTimeoutMs\); /);
    expect(out.ms).toBeGreaterThanOrEqual(150);
    expect(out.ms).toBeLessThan(5_000); // not the 10 s the worker was busy
    expect(out.straggler).toBe(true);
    expect(out.workers).toBe(0);
    expect(out.threads).toBe(1);
    expect(out.reason).toMatch(/^1 thread: the worker pool stopped after a failure: .*did not finish within 200 ms/);
    expect(out.quarantined).toEqual({ reused: false, bytes: 48 * 48 * 4 });
    expect(out.released).toEqual({ bytes: 0, reused: true });
    expect(out.same).toBe(true);
  });

  // A killed worker wakes the caller through its exit event, seen by the supervisor thread while
  // the calling thread waits: no deadline (threadTimeoutMs: Infinity), so a regression would wait
  // forever and spawnSync's timeout kills it.
  const killedWorker = (kill: string) =>
    runNode(`
    const e = await s.init({ threads: 3, threadTimeoutMs: Infinity });
    e.minParallelWork = 0;
    const a = e.tensor([48, 8], Float32Array.from({ length: 384 }, (_, i) => (i % 7) - 3));
    const b = e.tensor([8, 48], Float32Array.from({ length: 384 }, (_, i) => (i % 5) - 2));
    const expected = Array.from(s.matmul(a, b).data);
    const pool = e.threadPool;
    ${kill}
    const t0 = performance.now();
    let error;
    try { s.matmul(a, b); } catch (err) { error = err; }
    const ms = performance.now() - t0;
    console.log(JSON.stringify({
      name: error?.name, message: error?.message, ms, straggler: pool.failure?.straggler, threads: e.threads,
      same: JSON.stringify(Array.from(s.matmul(a, b).data)) === JSON.stringify(expected),
    }));
  `);

  it("a worker killed during a call (threadTimeoutMs: Infinity): the call throws when its thread exits", () => {
    // worker 1 is busy for 60 s; the supervisor terminates it 500 ms from now, while the caller waits
    const r = killedWorker("pool.testHoldWorker(1, 60000); pool.testTerminateWorker(1, 500);");
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.name).toBe("SimdnetError");
    expect(out.message).toMatch(/^gemm_f32_block: simdnet worker 1 died \(its thread exited with code \d+\) during the call; /);
    expect(out.ms).toBeGreaterThan(300);
    expect(out.ms).toBeLessThan(10_000);
    expect(out.straggler).toBe(false);
    expect(out.threads).toBe(1);
    expect(out.same).toBe(true);
  });

  it("workers that get no CPU: after a few starved calls the caller runs calls alone for a while, same bits", () => {
    // every worker sleeps 200 ms after waking for a call, as on a machine giving one core's worth:
    // the caller runs all parts itself; after 3 such calls it stops posting for a window, then probes
    const r = runNode(`
      const e = await s.init({ threads: 2 });
      e.minParallelWork = 0;
      const n = 192;
      const a = e.tensor([n, n], Float32Array.from({ length: n * n }, (_, i) => ((i * 7) % 13) - 6));
      const b = e.tensor([n, n], Float32Array.from({ length: n * n }, (_, i) => ((i * 5) % 11) - 5));
      const expected = JSON.stringify(Array.from(s.matmul(a, b).data));
      const pool = e.threadPool;
      pool.testDelayWorkers(200); // longer than the product takes on a loaded machine
      pool.starvedWindowMs = 1000; // longer than any pause a loaded machine puts between two calls
      const results = [], counts = [[pool.callsPosted, pool.callsAlone]];
      const call = () => {
        results.push(s.matmul(a, b)); // compared after the calls: the window is short
        counts.push([pool.callsPosted, pool.callsAlone]);
      };
      for (let i = 0; i < 5; i++) call();
      pool.testDelayWorkers(0);
      await new Promise((ok) => setTimeout(ok, 1300)); // past the window (and the workers' last wake)
      call();
      const same = results.every((y) => JSON.stringify(Array.from(y.data)) === expected);
      console.log(JSON.stringify({ same, counts, threads: e.threads }));
    `);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.same).toBe(true);
    expect(out.threads).toBe(2);
    // per call: was it posted (1) or run alone (0)?
    const before = out.counts[0];
    const counts = out.counts as [number, number][];
    const kinds = counts.slice(1).map((c, i) => c[0] - counts[i]![0]);
    expect(before).toEqual([1, 0]); // the first call is always posted
    // calls 1-5 (workers delayed): posted until 3 starved calls in a row (2 if `expected` starved, 4
    // if a loaded machine let a worker take a part once), then alone; call 6, after the window: posted
    expect(kinds.slice(0, 5).join("")).toMatch(/^1{2,4}0+$/);
    expect(kinds[5]).toBe(1);
  });

  it("a worker killed just before a call, its exit event not yet delivered: a call throws at once", () => {
    // terminate() stops the thread asynchronously: the first call may still be served by worker 2
    // (correct bits), but the call that finds it gone must throw at once (no deadline is set), and
    // every call before it must have returned the right result.
    const r = runNode(`
      const e = await s.init({ threads: 3, threadTimeoutMs: Infinity });
      e.minParallelWork = 0;
      const a = e.tensor([48, 8], Float32Array.from({ length: 384 }, (_, i) => (i % 7) - 3));
      const b = e.tensor([8, 48], Float32Array.from({ length: 384 }, (_, i) => (i % 5) - 2));
      const expected = JSON.stringify(Array.from(s.matmul(a, b).data));
      const pool = e.threadPool;
      void pool.testTerminateWorker(2);
      const spinUntil = performance.now() + 50; // synchronous: the exit event cannot be delivered
      while (performance.now() < spinUntil);
      let error, ms, served = 0, allRight = true;
      for (let call = 0; call < 50 && !error; call++) {
        const t0 = performance.now();
        try {
          allRight &&= JSON.stringify(Array.from(s.matmul(a, b).data)) === expected;
          served++;
        } catch (err) { error = err; }
        ms = performance.now() - t0;
      }
      console.log(JSON.stringify({
        name: error?.name, message: error?.message, ms, served, allRight, threads: e.threads,
        same: JSON.stringify(Array.from(s.matmul(a, b).data)) === expected,
      }));
    `);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.name).toBe("SimdnetError");
    expect(out.message).toMatch(/^gemm_f32_block: simdnet worker 2 died \(its thread exited with code \d+\)/);
    expect(out.ms).toBeLessThan(10_000);
    expect(out.served).toBeLessThan(50);
    expect(out.allRight).toBe(true);
    expect(out.threads).toBe(1);
    expect(out.same).toBe(true);
  });
});
