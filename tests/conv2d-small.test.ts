// The few-channel convolution kernels (assembly/conv2d_small.ts, the registry's conv2d.small): forced
// by name on every conv they support (stride 1, groups 1), checked against the float64 reference at
// the tile edges (4 output channels x 8 flat pixels), against finite differences, and through
// convTranspose2d (whose forward is the conv's backward_input).
import { describe, expect, it } from "vitest";
import { conv2d, conv2dBackward, type Conv2dOptions, type Engine } from "../src/index.js";
import { convGeometry } from "../src/ops/conv2d_algorithms.js";
import { SMALL } from "../src/ops/conv2d_small.js";
import { expectConvGradientsMatchFiniteDifferences, expectConvMatchesReference, expectConvTransposeMatchesReference } from "./conv-checks.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, uniform } from "./harness.js";
import type { RefParams, Shape4 } from "./reference/conv2d.js";

const TOL = { rtol: 1e-4, atol: 1e-4 };

const p = (pads: [number, number, number, number], dilations: [number, number] = [1, 1]): RefParams => ({
  strides: [1, 1],
  pads,
  dilations,
  groups: 1,
});

/** forward + both gradients (accumulated) vs the reference. */
function check(e: Engine, label: string, xs: Shape4, ws: Shape4, options: Conv2dOptions, ref: RefParams, seed: number): void {
  expectConvMatchesReference(e, label, xs, ws, options, ref, seed, TOL, { forward: SMALL.name, backward_input: SMALL.name, backward_filter: SMALL.name });
}

const OUT_CHANNELS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17];

describe.each(BUILDS_UNDER_TEST)("conv2d few-channel kernels, %s build", (build) => {
  it.each([1, 2, 3, 4, 5, 6, 9])("C=%i: every OC at the 4-channel tile edges, 5x5 pad 2 and 3x3 valid", async (C) => {
    const e = await engineFor(build);
    for (const OC of OUT_CHANNELS) {
      check(e, `C=${C} OC=${OC} 5x5 pad 2`, [2, 7, 9, C], [5, 5, C, OC], { pads: 2 }, p([2, 2, 2, 2]), C * 37 + OC);
      check(e, `C=${C} OC=${OC} 3x3 valid`, [1, 6, 11, C], [3, 3, C, OC], {}, p([0, 0, 0, 0]), C * 41 + OC);
    }
  });

  it.each([
    ["flat rows narrower than a tile (OW 1, Wp 3)", [2, 5, 3, 2], [2, 3, 2, 5], {}, p([0, 0, 0, 0])],
    ["one output pixel", [1, 3, 3, 3], [3, 3, 3, 6], {}, p([0, 0, 0, 0])],
    ["output width 8 and 9", [2, 4, 12, 1], [3, 4, 1, 6], { pads: [1, 0, 1, 1] }, p([1, 0, 1, 1])],
    ["asymmetric pads larger than the kernel", [1, 3, 4, 3], [2, 2, 3, 5], { pads: [3, 2, 0, 4] }, p([3, 2, 0, 4])],
    ["dilation [2,3] pads", [2, 9, 10, 2], [3, 3, 2, 6], { dilations: [2, 3], pads: [1, 2, 2, 1] }, p([1, 2, 2, 1], [2, 3])],
    ["5x3 kernel, 1xN image", [2, 1, 13, 3], [1, 3, 3, 7], { pads: [0, 1, 0, 1] }, p([0, 1, 0, 1])],
    ["kernel as large as the input", [2, 3, 5, 4], [3, 5, 4, 8], {}, p([0, 0, 0, 0])],
    ["LeNet conv1 (28x28 5x5 pad 2, 1 -> 6)", [2, 28, 28, 1], [5, 5, 1, 6], { pads: 2 }, p([2, 2, 2, 2])],
    ["LeNet conv2 (14x14 -> 10x10, 6 -> 16)", [2, 14, 14, 6], [5, 5, 6, 16], {}, p([0, 0, 0, 0])],
  ] as const)("matches the reference: %s", async (label, xs, ws, options, ref) => {
    check(await engineFor(build), label, xs as unknown as Shape4, ws as unknown as Shape4, options as unknown as Conv2dOptions, ref, 5);
  });

  it("dx and dw match finite differences (dilation 2, asymmetric pads)", async () => {
    const opts: Conv2dOptions = { pads: [2, 1, 0, 2], dilations: [1, 2] };
    expectConvGradientsMatchFiniteDifferences(await engineFor(build), [2, 5, 7, 3], [3, 2, 3, 5], { ...opts, algorithm: SMALL.name }, 1);
  });

  it("convTranspose2d stride 1 (its forward is the conv's backward_input) matches the reference", async () => {
    expectConvTransposeMatchesReference(await engineFor(build), [2, 4, 6, 3], [3, 3, 5, 3], [1, 0, 0, 1], [5, 7], 8, TOL, SMALL.name);
  });

  it("gives the same results as the channel-vectorised kernels (LeNet conv2 shape, batch 3)", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.tensor([3, 14, 14, 6], uniform(3 * 14 * 14 * 6, 21)),
        w = e.tensor([5, 5, 6, 16], uniform(2400, 22));
      const dy = e.tensor([3, 10, 10, 16], uniform(4800, 23));
      const run = (algorithm: string) => {
        const y = Float32Array.from(conv2d(x, w, null, { algorithm }).data);
        const g = conv2dBackward(dy, x, w, { algorithm }, {}, false);
        return [y, Float32Array.from(g.dx.data), Float32Array.from(g.dw.data)];
      };
      const small = run(SMALL.name);
      const wide = run("conv2d.direct");
      for (let i = 0; i < 3; i++) expectClose(small[i]!, wide[i]!, { ...TOL, label: ["y", "dx", "dw"][i] });
    });
  });
});

describe("few-channel dispatch", () => {
  const target = { build: "simd", threads: 1 } as const;
  const g = (c: number, oc: number, s = 1, groups = 1) => convGeometry("t", [1, 14, 14, c], [5, 5, c / groups, oc], { strides: s, groups });
  it("takes LeNet's convolutions and leaves wide, strided and grouped ones", () => {
    expect(SMALL.eligible("forward", g(1, 6), target)).toBe(true);
    expect(SMALL.eligible("backward_input", g(6, 16), target)).toBe(true);
    expect(SMALL.eligible("backward_filter", g(1, 6), target)).toBe(true);
    expect(SMALL.eligible("forward", g(64, 64), target)).toBe(false);
    expect(SMALL.eligible("forward", g(3, 6, 2), target)).toBe(false);
    expect(SMALL.eligible("forward", g(4, 4, 1, 2), target)).toBe(false);
    expect(SMALL.supports("forward", g(64, 64), target)).toBe(true);
    expect(SMALL.supports("forward", g(3, 6, 2), target)).toBe(false);
  });
});
