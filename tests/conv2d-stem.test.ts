// The first-layer convolution forward (assembly/conv2d_stem.ts, the registry's conv2d.stem):
// 1 to 4 input channels, OC % 8 == 0, any stride. Against the float64 reference at the edges of its
// 4-pixel tiles (output widths 4 to 9: the last tile of a row overlaps), its 8-channel tiles, C = 3
// (constant load offsets) and the other channel counts, with pads, strides, dilations and kernel shapes.
// SIMD builds only: the scalar build keeps conv2d_small.ts, which the dispatch test checks.
import { describe, expect, it } from "vitest";
import type { Conv2dOptions } from "../src/index.js";
import { chooseConvAlgorithm, convGeometry, convTarget } from "../src/ops/conv2d_algorithms.js";
import { STEM } from "../src/ops/conv2d_stem.js";
import { expectConvMatchesReference } from "./conv-checks.js";
import { BUILDS_UNDER_TEST, engineFor } from "./harness.js";
import type { RefParams, Shape4 } from "./reference/conv2d.js";

const TOL = { rtol: 1e-4, atol: 1e-4 };
const p = (pads: [number, number, number, number], dilations: [number, number] = [1, 1], strides: [number, number] = [1, 1]): RefParams => ({
  strides,
  pads,
  dilations,
  groups: 1,
});
const SIMD_BUILDS = BUILDS_UNDER_TEST.filter((b) => b !== "scalar");

describe.each(SIMD_BUILDS)("conv2d stem forward, %s build", (build) => {
  it.each([1, 2, 3, 4])("C=%i: output widths 4 to 9, 8 to 24 output channels, 3x3 pad 1", async (C) => {
    const e = await engineFor(build);
    for (const OW of [4, 5, 6, 7, 8, 9]) {
      for (const OC of [8, 16, 24]) {
        const g = convGeometry("t", [2, 3, OW, C], [3, 3, C, OC], { pads: 1 });
        expect(chooseConvAlgorithm("forward", g, convTarget(e))).toBe(STEM);
        expectConvMatchesReference(e, `C=${C} OW=${OW} OC=${OC}`, [2, 3, OW, C], [3, 3, C, OC], { pads: 1 }, p([1, 1, 1, 1]), C * 100 + OW * 10 + OC, TOL, {
          forward: STEM.name,
        });
      }
    }
  });

  it.each([
    ["RGB stem, 7x7 pad 3", [1, 12, 13, 3], [7, 7, 3, 16], { pads: 3 }, p([3, 3, 3, 3])],
    ["valid 5x5, grey", [2, 9, 11, 1], [5, 5, 1, 8], {}, p([0, 0, 0, 0])],
    ["asymmetric pads larger than the kernel", [1, 4, 5, 3], [2, 3, 3, 8], { pads: [3, 4, 0, 5] }, p([3, 4, 0, 5])],
    ["dilation [2,3]", [2, 9, 12, 3], [3, 3, 3, 16], { dilations: [2, 3], pads: [2, 3, 2, 3] }, p([2, 3, 2, 3], [2, 3])],
    ["64 output channels, 224 wide row", [1, 2, 224, 3], [3, 3, 3, 64], { pads: 1 }, p([1, 1, 1, 1])],
    // strided stems: the tile's pixels SW*C floats apart, rows SH apart, the padded image's unused edge
    ["ResNet stem, 7x7 stride 2 pad 3, odd width", [2, 13, 17, 3], [7, 7, 3, 16], { strides: 2, pads: 3 }, p([3, 3, 3, 3], [1, 1], [2, 2])],
    ["AlexNet stem, 11x11 stride 4, input columns left over", [1, 23, 30, 3], [11, 11, 3, 8], { strides: 4 }, p([0, 0, 0, 0], [1, 1], [4, 4])],
    [
      "strides [1,3], 4 channels, dilation 2",
      [1, 9, 20, 4],
      [3, 3, 4, 8],
      { strides: [1, 3], dilations: 2, pads: [1, 2, 0, 1] },
      p([1, 2, 0, 1], [2, 2], [1, 3]),
    ],
    ["strides [3,2], grey, 5 output columns", [2, 14, 13, 1], [4, 4, 1, 24], { strides: [3, 2], pads: 1 }, p([1, 1, 1, 1], [1, 1], [3, 2])],
  ] as const)("matches the reference: %s", async (label, xs, ws, options, ref) => {
    const e = await engineFor(build);
    expectConvMatchesReference(e, label, xs as unknown as Shape4, ws as unknown as Shape4, options as unknown as Conv2dOptions, ref, 9, TOL, {
      forward: STEM.name,
    });
  });
});

describe("stem dispatch", () => {
  it("takes few-channel, OC % 8 == 0 convs at least 4 pixels wide in SIMD builds", () => {
    const simd = { build: "simd", threads: 1 } as const,
      scalar = { build: "scalar", threads: 1 } as const;
    const g = (c: number, oc: number, w: number, groups = 1) => convGeometry("t", [1, 9, w, c], [3, 3, c / groups, oc], { pads: 1, groups });
    expect(STEM.eligible("forward", g(3, 64, 224), simd)).toBe(true);
    expect(STEM.eligible("forward", g(3, 64, 224), scalar)).toBe(false);
    expect(STEM.eligible("forward", g(5, 64, 224), simd)).toBe(false);
    expect(STEM.eligible("forward", g(3, 6, 224), simd)).toBe(false); // LeNet's conv1: conv2d.small
    expect(STEM.eligible("forward", g(3, 64, 3), simd)).toBe(false);
    expect(STEM.eligible("forward", g(3, 72, 224, 3), simd)).toBe(false);
    expect(STEM.supports("backward_input", g(3, 64, 224), simd)).toBe(false);
  });
});
