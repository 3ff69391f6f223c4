// The convolution algorithm registry (src/ops/conv2d_algorithms.ts) as a whole: its workspace
// sizes against the kernels' own, its choices on random geometries, thread counts that never
// change a result's bits, and geometry checks against the 32-bit range the kernels index with.
// Each algorithm's arithmetic is checked against the float64 reference in tests/conv2d*.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  conv2d,
  conv2dBackward,
  conv2dOutputShape,
  type Conv2dOptions,
  convTranspose2d,
  convTranspose2dBackward,
  convTranspose2dOutputShape,
  type Engine,
  init,
  SimdnetError,
} from "../src/index.js";
import {
  chooseConvAlgorithm,
  CONV_ALGORITHMS,
  CONV_PASSES,
  type ConvGeometry,
  convGeometry,
  convParams,
  type ConvPass,
  type ConvTarget,
  supportingConvAlgorithms,
} from "../src/ops/conv2d_algorithms.js";
import { blockedPartFloats } from "../src/ops/conv2d_blocked.js";
import { smallWorkspaceFloats } from "../src/ops/conv2d_small.js";
import { stemPartFloats } from "../src/ops/conv2d_stem.js";
import { winogradSizes } from "../src/ops/conv2d_winograd.js";
import { BUILDS_UNDER_TEST, engineFor, rng, singleThreadBuildOf, THREADS_BUILDS_UNDER_TEST, uniform } from "./harness.js";

const PASS_INDEX: Record<ConvPass, number> = { forward: 0, backward_input: 1, backward_filter: 2 };
const size = (s: readonly number[]) => s.reduce((a, d) => a * d, 1);

/** `count` random conv shapes (x, w, options) that have an output, small enough to run fast. */
function randomConvs(count: number, seed: number): { x: number[]; w: number[]; options: Conv2dOptions }[] {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  const out: { x: number[]; w: number[]; options: Conv2dOptions }[] = [];
  while (out.length < count) {
    const kind = pick(["one", "one", "one", "grouped", "depthwise", "wide"] as const);
    const groups = kind === "one" || kind === "wide" ? 1 : kind === "depthwise" ? pick([3, 8, 12]) : pick([2, 3, 4]);
    const cg = kind === "depthwise" ? 1 : kind === "wide" ? pick([16, 32, 33, 64]) : pick([1, 2, 3, 4, 5, 8, 9, 16, 17]);
    const ocg = kind === "depthwise" ? pick([1, 1, 2]) : kind === "wide" ? pick([8, 16, 24, 40]) : pick([1, 3, 4, 6, 8, 9, 16, 17]);
    const x = [pick([1, 2, 3]), pick([1, 2, 3, 5, 8, 11, 16]), pick([1, 2, 4, 7, 13, 19]), cg * groups];
    const w = [pick([1, 2, 3, 3, 3, 5]), pick([1, 3, 3, 4]), cg, ocg * groups];
    const options: Conv2dOptions = {
      strides: [pick([1, 1, 1, 2]), pick([1, 1, 2, 3])],
      dilations: [pick([1, 1, 1, 2]), pick([1, 1, 2])],
      pads: [pick([0, 1, 2]), pick([0, 1]), pick([0, 1, 2]), pick([0, 1, 3])],
      groups,
    };
    try {
      conv2dOutputShape(x, w, options);
    } catch {
      continue; // a kernel larger than the padded input
    }
    out.push({ x, w, options });
  }
  return out;
}

describe("the registry", () => {
  const CASES = randomConvs(200, 1);

  it("has an eligible algorithm for every pass of every geometry, one that supports it, and unique names", () => {
    expect(new Set(CONV_ALGORITHMS.map((a) => a.name)).size).toBe(CONV_ALGORITHMS.length);
    for (const build of ["scalar", "simd", "relaxed", "threads", "relaxed-threads"] as const) {
      for (const threads of [1, 2]) {
        const target: ConvTarget = { build, threads };
        for (const c of CASES) {
          const g = convGeometry("t", c.x, c.w, c.options);
          for (const pass of CONV_PASSES) {
            const chosen = chooseConvAlgorithm(pass, g, target);
            expect(chosen.passes).toContain(pass);
            expect(chosen.supports(pass, g, target)).toBe(true);
            expect(supportingConvAlgorithms(pass, g, target)).toContain(chosen);
            // eligibility never reads the thread count
            expect(chosen).toBe(chooseConvAlgorithm(pass, g, { build, threads: 1 }));
            for (const a of CONV_ALGORITHMS) {
              if (a.passes.includes(pass) && a.eligible(pass, g, target)) expect(a.supports(pass, g, target), `${a.name} ${pass}`).toBe(true);
              if (a.passes.includes(pass) && a.supports(pass, g, target)) expect(a.workspaceBytes(pass, g, target) % 16).toBe(0);
            }
          }
        }
      }
    }
  });

  it.each(BUILDS_UNDER_TEST)("workspace sizes agree with the kernels' own (%s build)", async (build) => {
    const e = await engineFor(build);
    const k = e.kernels;
    const simd = build !== "scalar";
    for (const c of [...CASES, ...randomConvs(100, 2).map((c) => ({ ...c, options: { ...c.options, strides: 1, dilations: 1, groups: 1 } }))]) {
      let g: ConvGeometry;
      try {
        g = convGeometry("t", c.x, [c.w[0]!, c.w[1]!, c.x[3]!, c.w[3]!], { ...c.options, groups: 1 });
      } catch {
        continue;
      }
      const geom = convParams(e, g);
      for (const pass of CONV_PASSES) {
        const p = PASS_INDEX[pass];
        expect(smallWorkspaceFloats(pass, g, build), `small ${pass}`).toBe(k.conv2d_small_f32_workspace(geom, p));
        if (simd && g.kh === 3 && g.kw === 3) {
          const s = winogradSizes(pass, g);
          expect(s.filterFloats, `Winograd U ${pass}`).toBe(k.conv2d_winograd_f32_filter_workspace(geom, p));
          expect(s.partFloats, `Winograd ws ${pass}`).toBe(k.conv2d_winograd_f32_workspace(geom, p));
          expect(s.tiles).toBe(k.conv2d_winograd_f32_tiles(geom, p));
          expect(s.block).toBe(k.conv2d_winograd_f32_tile_block(geom, p));
        }
      }
      expect(stemPartFloats(g), "stem").toBe(k.conv2d_stem_f32_workspace(geom));
      expect(blockedPartFloats(g), "blocked").toBe(k.conv2d_blocked_f32_workspace(geom));
      expect(g.n * g.oh * g.ow * 8, "direct_few").toBe(k.conv2d_f32_backward_filter_few_workspace(geom));
    }
  });
});

// each threads build on 2 threads against the one-thread build of the same instructions (simd, relaxed)
describe.each(THREADS_BUILDS_UNDER_TEST)("a 2-thread engine (%s build) against a 1-thread engine", (build) => {
  let one: Engine, two: Engine;
  beforeAll(async () => {
    one = await init({ build: singleThreadBuildOf(build) });
    two = await init({ build, threads: 2 });
  });
  afterAll(() => two.dispose());

  /** Every pass of conv2d and convTranspose2d on e, copied out. */
  function passes(e: Engine, c: { x: number[]; w: number[]; options: Conv2dOptions }, seed: number): Float32Array[] {
    return e.tidy(() => {
      const x = e.tensor(c.x, uniform(size(c.x), seed)),
        w = e.tensor(c.w, uniform(size(c.w), seed + 1));
      const ys = conv2dOutputShape(c.x, c.w, c.options);
      const dy = e.tensor(ys, uniform(size(ys), seed + 2));
      const y = conv2d(x, w, null, c.options);
      const g = conv2dBackward(dy, x, w, c.options, { dx: e.tensor(c.x, uniform(size(c.x), seed + 3)) }, false);
      // the transposed conv of dy (w as [KH, KW, Cout/groups, Cin]) and its gradients
      const out = [y, g.dx, g.dw].map((t) => t.data.slice());
      let ts: number[];
      try {
        ts = convTranspose2dOutputShape(ys, c.w, c.options);
      } catch {
        return out;
      }
      const ty = convTranspose2d(dy, w, null, c.options);
      const tg = convTranspose2dBackward(e.tensor(ts, uniform(size(ts), seed + 4)), dy, w, c.options, { dx: e.zeros(ys) }, false);
      return [...out, ty.data.slice(), tg.dx.data.slice(), tg.dw.data.slice()];
    });
  }

  it("gives the same bits on 400 random shapes, every call split (including few-channel filter gradients, C >= 8, OC >= 8)", () => {
    expect([two.build, two.threads]).toEqual([build, 2]);
    const cases = randomConvs(400, 3);
    let fewChannelFilterGradients = 0;
    two.minParallelWork = 0;
    try {
      cases.forEach((c, i) => {
        const g = convGeometry("t", c.x, c.w, c.options);
        if (chooseConvAlgorithm("backward_filter", g, { build: "simd", threads: 2 }).name === "conv2d.small" && g.c >= 8 && g.oc >= 8)
          fewChannelFilterGradients++;
        const a = passes(one, c, i),
          b = passes(two, c, i);
        expect(b.length).toBe(a.length);
        a.forEach((v, j) => {
          const bad = v.findIndex((f, k) => !Object.is(f, b[j]![k]));
          expect(bad, `${JSON.stringify(c)} output ${j} element ${bad}`).toBe(-1);
        });
      });
    } finally {
      two.minParallelWork = 1 << 18;
    }
    expect(fewChannelFilterGradients, "the shapes issue 18 found").toBeGreaterThan(5);
  });
});

describe("geometry in the 32-bit range", () => {
  it.each([
    [
      "dilation 2^31",
      [1, 5, 5, 2],
      [3, 3, 2, 4],
      { dilations: [2 ** 31, 1], pads: 2 ** 31 },
      /dilations\[0\] 2147483648 is beyond the 32-bit range the kernels index with/,
    ],
    ["stride 2^32", [1, 5, 5, 2], [3, 3, 2, 4], { strides: 2 ** 32 }, /strides\[0\] 4294967296 is beyond the 32-bit range/],
    ["pads 2^31", [1, 5, 5, 2], [3, 3, 2, 4], { pads: [0, 2 ** 31, 0, 0] }, /pads\[1\] 2147483648 is beyond the 32-bit range/],
    [
      "a dilated kernel past 2^31",
      [1, 5, 5, 2],
      [3, 3, 2, 4],
      { dilations: 2 ** 30 + 1, pads: 2 ** 30 },
      /the dilated kernel height 2147483651 is beyond the 32-bit range/,
    ],
    [
      "a padded input past 2^31",
      [1, 5, 5, 2],
      [3, 3, 2, 4],
      { pads: [2 ** 30, 0, 2 ** 30, 0] },
      /the padded input height 2147483653 is beyond the 32-bit range/,
    ],
    ["groups 2^31", [1, 5, 5, 2], [3, 3, 2, 4], { groups: 2 ** 31 }, /groups 2147483648 is beyond the 32-bit range/],
  ] as const)("conv2d rejects %s with a SimdnetError naming it", async (_name, xs, ws, options, message) => {
    const e = await engineFor("simd");
    e.tidy(() => {
      const x = e.zeros([...xs]),
        w = e.zeros([...ws]);
      expect(() => conv2d(x, w, null, options as Conv2dOptions)).toThrow(SimdnetError);
      expect(() => conv2d(x, w, null, options as Conv2dOptions)).toThrow(message);
      expect(() => conv2dOutputShape(xs, ws, options as Conv2dOptions)).toThrow(message);
    });
  });

  it("rejects shapes and outputs whose element counts pass 2^31 - 1, before anything is allocated", () => {
    expect(() => conv2dOutputShape([2 ** 16, 2 ** 8, 2 ** 8, 1], [1, 1, 1, 1], {})).toThrow(/element count of x \[65536,256,256,1\] 4294967296 is beyond/);
    expect(() => conv2dOutputShape([1, 2 ** 16, 2 ** 16, 1], [1, 1, 1, 2], { pads: 0 })).toThrow(/element count of x/);
    expect(() => conv2dOutputShape([1, 8, 8, 1], [1, 1, 1, 2 ** 31], {})).toThrow(/w\[3\] 2147483648 is beyond the 32-bit range/);
    expect(() => convTranspose2dOutputShape([1, 2, 2, 1], [3, 3, 1, 1], { strides: 2 ** 31 - 1 })).toThrow(
      /the unpadded output height \d+ is beyond the 32-bit range/,
    );
    expect(() => convTranspose2dOutputShape([1, 2, 2, 1], [3, 3, 1, 1], { outputShape: [2 ** 31, 4] })).toThrow(/outputShape\[0\] 2147483648 is beyond/);
    expect(() => convTranspose2dOutputShape([1, 2 ** 15, 2 ** 15, 1], [2, 2, 4, 1], { strides: 2 })).toThrow(/element count of y/);
  });

  it("accepts large sizes that fit (dilation 2^29 with pads 2^29: a padded extent of 2^30 + 1)", async () => {
    const e = await engineFor("simd");
    e.tidy(() => {
      // a 1x1 image, dilation 2^29, pads 2^29: only the centre tap lands inside (conv2d.gemm_tap)
      const x = e.tensor([1, 1, 1, 2], [1, 2]),
        w = e.tensor([3, 3, 2, 1], uniform(18, 1));
      const y = conv2d(x, w, null, { dilations: 2 ** 29, pads: 2 ** 29 });
      expect(y.shape).toEqual([1, 1, 1, 1]);
      const wc = w.data.slice(8, 10); // tap (1, 1)
      expect(y.data[0]).toBeCloseTo(wc[0]! * 1 + wc[1]! * 2, 6);
    });
  });
});
