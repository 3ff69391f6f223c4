// The Winograd F(2x2, 3x3) convolution kernels (assembly/conv2d_winograd.ts, the registry's
// conv2d.winograd), forced by name on every conv they support (3x3, strides 1, dilations 1, one
// group), against the float64 reference at the edges of their 4-channel vectors, their 2x2 output
// tiles (odd output sizes leave partial tiles) and their blocks of tiles, with pads of every kind;
// forward, input gradient and filter gradient (both accumulating), finite differences, and
// convTranspose2d (whose forward is the conv's input gradient). SIMD builds only: the scalar build
// keeps direct convolution, which the dispatch test checks.
import { describe, expect, it } from "vitest";
import { conv2d, conv2dBackward, type Conv2dOptions, type Engine } from "../src/index.js";
import { CONV_PASSES, type ConvGeometry } from "../src/ops/conv2d_algorithms.js";
import { WINOGRAD } from "../src/ops/conv2d_winograd.js";
import { expectConvGradientsMatchFiniteDifferences, expectConvMatchesReference, expectConvTransposeMatchesReference } from "./conv-checks.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, uniform } from "./harness.js";
import type { RefParams, Shape4 } from "./reference/conv2d.js";

const TOL = { rtol: 1e-4, atol: 1e-4 };
const p = (pads: [number, number, number, number]): RefParams => ({ strides: [1, 1], pads, dilations: [1, 1], groups: 1 });
const geometry = (c: number, oc: number, side = 8, n = 1): ConvGeometry => ({
  n,
  h: side,
  w: side,
  c,
  oh: side,
  ow: side,
  oc,
  kh: 3,
  kw: 3,
  sh: 1,
  sw: 1,
  pt: 1,
  pl: 1,
  dh: 1,
  dw: 1,
  groups: 1,
});
const ALL = { forward: WINOGRAD.name, backward_input: WINOGRAD.name, backward_filter: WINOGRAD.name };

/** forward + both gradients, accumulated onto non-zero starting values, vs the reference. */
function check(e: Engine, label: string, xs: Shape4, ws: Shape4, options: Conv2dOptions, ref: RefParams, seed: number): void {
  expectConvMatchesReference(e, label, xs, ws, options, ref, seed, TOL, ALL);
}

const SIMD_BUILDS = BUILDS_UNDER_TEST.filter((b) => b !== "scalar");

describe.each(SIMD_BUILDS)("conv2d Winograd F(2x2, 3x3), %s build", (build) => {
  it.each([1, 3, 4, 5, 8, 9])("C=%i: OC around the 4-lane vectors, pad 1 and valid", async (C) => {
    const e = await engineFor(build);
    for (const OC of [1, 2, 3, 4, 5, 7, 8, 12, 13]) {
      check(e, `C=${C} OC=${OC} pad 1`, [2, 5, 6, C], [3, 3, C, OC], { pads: 1 }, p([1, 1, 1, 1]), C * 29 + OC);
      check(e, `C=${C} OC=${OC} valid`, [1, 6, 5, C], [3, 3, C, OC], {}, p([0, 0, 0, 0]), C * 31 + OC);
    }
  });

  it.each([
    ["1x1 output (one partial tile)", [1, 3, 3, 6], [3, 3, 6, 5], {}, p([0, 0, 0, 0])],
    ["1xN output", [2, 3, 9, 4], [3, 3, 4, 8], {}, p([0, 0, 0, 0])],
    ["even output, SAME", [2, 8, 8, 16], [3, 3, 16, 16], { pads: 1 }, p([1, 1, 1, 1])],
    ["odd output both ways", [1, 9, 11, 8], [3, 3, 8, 12], { pads: 1 }, p([1, 1, 1, 1])],
    ["asymmetric pads", [1, 7, 13, 9], [3, 3, 9, 8], { pads: [0, 2, 1, 0] }, p([0, 2, 1, 0])],
    ["pads larger than the kernel", [1, 3, 4, 5], [3, 3, 5, 6], { pads: [3, 4, 0, 5] }, p([3, 4, 0, 5])],
    ["SAME_LOWER", [2, 6, 5, 7], [3, 3, 7, 9], { autoPad: "SAME_LOWER" }, p([1, 1, 1, 1])],
    // TB = max(32, 8192 / (Cp + OCp)): Cp + OCp = 396 gives 32-tile blocks; 8x16 outputs have 32
    // tiles an image (2 images: exactly 2 blocks), 7x7 have 16 (3 images: 1 block and 16 tiles)
    ["tile blocks: 2 full blocks", [2, 8, 16, 200], [3, 3, 200, 196], { pads: 1 }, p([1, 1, 1, 1])],
    ["tile blocks: a partial last block", [3, 7, 7, 197], [3, 3, 197, 195], { pads: 1 }, p([1, 1, 1, 1])],
    ["many tiles, few channels (blocks of 512 tiles)", [2, 35, 34, 8], [3, 3, 8, 8], { pads: 1 }, p([1, 1, 1, 1])],
  ] as const)("matches the reference: %s", async (label, xs, ws, options, ref) => {
    check(await engineFor(build), label, xs as unknown as Shape4, ws as unknown as Shape4, options as unknown as Conv2dOptions, ref, 7);
  });

  it("dx and dw match finite differences (asymmetric pads, odd sizes)", async () => {
    expectConvGradientsMatchFiniteDifferences(await engineFor(build), [2, 5, 7, 6], [3, 3, 6, 5], { pads: [2, 1, 0, 2], algorithm: WINOGRAD.name }, 1);
  });

  it("convTranspose2d stride 1 (its forward is the conv's input gradient) matches the reference", async () => {
    expectConvTransposeMatchesReference(await engineFor(build), [2, 5, 6, 9], [3, 3, 10, 9], [1, 0, 0, 1], [6, 7], 8, TOL, WINOGRAD.name);
  });

  it("agrees with direct convolution on a VGG-like layer (56x56, 64 -> 64)", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.tensor([1, 56, 56, 64], uniform(56 * 56 * 64, 31)),
        w = e.tensor([3, 3, 64, 64], uniform(9 * 64 * 64, 32));
      const dy = e.tensor([1, 56, 56, 64], uniform(56 * 56 * 64, 33));
      const run = (algorithm: string) => {
        const y = Float32Array.from(conv2d(x, w, null, { pads: 1, algorithm }).data);
        const g = conv2dBackward(dy, x, w, { pads: 1, algorithm }, {}, false);
        return [y, Float32Array.from(g.dx.data), Float32Array.from(g.dw.data)];
      };
      const winograd = run(WINOGRAD.name);
      const direct = run("conv2d.direct");
      for (let i = 0; i < 3; i++) expectClose(winograd[i]!, direct[i]!, { rtol: 1e-4, atol: 1e-4, label: ["y", "dx", "dw"][i] });
    });
  });
});

describe("Winograd dispatch", () => {
  it("takes 3x3 stride-1 one-group convs with 8+ channels and enough 2x2 output tiles, in SIMD builds only", () => {
    const simd = { build: "simd", threads: 1 } as const,
      scalar = { build: "scalar", threads: 1 } as const;
    const eligible = (g: ConvGeometry, pass: (typeof CONV_PASSES)[number]) => WINOGRAD.eligible(pass, g, simd);
    for (const pass of CONV_PASSES) {
      expect(eligible(geometry(64, 64, 56), pass)).toBe(true);
      expect(WINOGRAD.eligible(pass, geometry(64, 64, 56), scalar)).toBe(false);
      expect(WINOGRAD.supports(pass, geometry(64, 64, 56), scalar)).toBe(false);
      expect(eligible(geometry(3, 64, 56), pass)).toBe(false); // few channels: conv2d.small
      expect(WINOGRAD.supports(pass, geometry(3, 64, 56), simd)).toBe(true);
      expect(eligible({ ...geometry(64, 64, 56), sh: 2, sw: 2 }, pass)).toBe(false);
      expect(eligible({ ...geometry(64, 64, 56), dh: 2 }, pass)).toBe(false);
      expect(eligible({ ...geometry(64, 64, 56), groups: 2 }, pass)).toBe(false);
      expect(eligible({ ...geometry(64, 64, 56), kh: 5, kw: 5 }, pass)).toBe(false);
      expect(eligible(geometry(512, 512, 3), pass)).toBe(false); // 4 tiles: the filter transform dominates
    }
    // 7x7 at 256 -> 256 (16 tiles): forward and filter gradient yes, input gradient (which also
    // flips the weights) no; a batch of 2 (32 tiles) yes
    expect(eligible(geometry(256, 256, 7), "forward")).toBe(true);
    expect(eligible(geometry(256, 256, 7), "backward_filter")).toBe(true);
    expect(eligible(geometry(256, 256, 7), "backward_input")).toBe(false);
    expect(eligible(geometry(256, 256, 7, 2), "backward_input")).toBe(true);
    // 512 -> 512 (a 16 MB transformed filter): only when 16 * (tiles + 50) < 9 * pixels: 7x7 maps
    // from a batch of 6 (96 tiles, 294 pixels), not 4; 14x14 from batch 1 (49 tiles, 196 pixels)
    for (const pass of CONV_PASSES) {
      expect(eligible(geometry(512, 512, 7, 4), pass)).toBe(false);
      expect(eligible(geometry(512, 512, 7, 6), pass)).toBe(true);
      expect(eligible(geometry(512, 512, 14, 1), pass)).toBe(true);
    }
    // images of 16 pixels or fewer (the direct kernels mostly read padding): input gradient from 8 tiles
    expect(eligible(geometry(256, 256, 2, 8), "backward_input")).toBe(true);
    expect(eligible(geometry(256, 256, 4, 2), "backward_input")).toBe(true);
    expect(eligible(geometry(256, 256, 4, 1), "backward_input")).toBe(false);
    expect(WINOGRAD.supports("backward_input", geometry(512, 512, 3), simd)).toBe(true);
  });
});
