// The cache-blocked convolution forward (assembly/conv2d_blocked.ts, the registry's conv2d.blocked),
// forced by name on every conv it supports (groups 1, OC % 8 == 0), against
// the float64 reference at the edges of its 32-channel input blocks, its 4-pixel flat tiles (which
// span output rows, the last one overlapping) and with strides, pads and dilations.
import { describe, expect, it } from "vitest";
import { conv2d, type Conv2dOptions, convTranspose2dBackward, type Engine } from "../src/index.js";
import { convGeometry } from "../src/ops/conv2d_algorithms.js";
import { BLOCKED } from "../src/ops/conv2d_blocked.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, uniform } from "./harness.js";
import { conv2dRef, type RefParams, type Shape4 } from "./reference/conv2d.js";

const TOL = { rtol: 1e-4, atol: 1e-4 };
const size = (s: readonly number[]) => s.reduce((a, d) => a * d, 1);
const p = (strides: [number, number], pads: [number, number, number, number], dilations: [number, number] = [1, 1]): RefParams => ({
  strides,
  pads,
  dilations,
  groups: 1,
});

function check(e: Engine, label: string, xs: Shape4, ws: Shape4, options: Conv2dOptions, ref: RefParams, seed: number): void {
  e.tidy(() => {
    const xv = uniform(size(xs), seed),
      wv = uniform(size(ws), seed + 1),
      bv = uniform(ws[3], seed + 2);
    const r = conv2dRef(xv, xs, wv, ws, bv, ref);
    const out = e.tensor(r.shape, new Float32Array(r.y.length).fill(123)); // overwritten, not accumulated
    const y = conv2d(e.tensor(xs, xv), e.tensor(ws, wv), e.tensor([ws[3]], bv), { ...options, algorithm: BLOCKED.name }, out);
    expect(y.shape).toEqual(r.shape);
    expectClose(y.data, r.y, { ...TOL, label });
  });
}

describe.each(BUILDS_UNDER_TEST)("conv2d blocked forward, %s build", (build) => {
  it.each([1, 3, 16, 31, 32, 33, 65])("C=%i (around the 32-channel blocks), OC 8 / 16 / 24", async (C) => {
    const e = await engineFor(build);
    for (const OC of [8, 16, 24]) {
      check(e, `C=${C} OC=${OC} 3x3 pad 1`, [2, 5, 7, C], [3, 3, C, OC], { pads: 1 }, p([1, 1], [1, 1, 1, 1]), C * 13 + OC);
    }
  });

  it.each([
    ["output of 1 pixel", [1, 3, 3, 5], [3, 3, 5, 8], {}, p([1, 1], [0, 0, 0, 0])],
    ["output of 3 pixels (fewer than a tile)", [2, 3, 5, 4], [3, 3, 4, 8], {}, p([1, 1], [0, 0, 0, 0])],
    ["output of 5 pixels (overlapping last tile)", [1, 1, 9, 6], [1, 5, 6, 16], {}, p([1, 1], [0, 0, 0, 0])],
    ["9 output pixels, 2 channel blocks (the overlapping tile accumulates)", [2, 5, 5, 40], [3, 3, 40, 8], {}, p([1, 1], [0, 0, 0, 0])],
    ["6 output pixels, 2 channel blocks", [1, 4, 5, 33], [3, 3, 33, 16], {}, p([1, 1], [0, 0, 0, 0])],
    ["7 output pixels, 3 channel blocks", [1, 1, 9, 65], [1, 3, 65, 8], {}, p([1, 1], [0, 0, 0, 0])],
    ["stride 2 pad 1", [2, 9, 11, 17], [3, 3, 17, 16], { strides: 2, pads: 1 }, p([2, 2], [1, 1, 1, 1])],
    ["strides [1,3], asymmetric pads", [1, 7, 13, 9], [3, 2, 9, 8], { strides: [1, 3], pads: [0, 2, 1, 0] }, p([1, 3], [0, 2, 1, 0])],
    ["dilation [2,3] pads", [2, 9, 10, 34], [3, 3, 34, 8], { dilations: [2, 3], pads: [1, 2, 2, 1] }, p([1, 1], [1, 2, 2, 1], [2, 3])],
    ["pads larger than the kernel", [1, 3, 4, 3], [2, 2, 3, 8], { pads: [3, 2, 0, 4] }, p([1, 1], [3, 2, 0, 4])],
    ["1x1 stride 2", [2, 5, 7, 40], [1, 1, 40, 8], { strides: 2 }, p([2, 2], [0, 0, 0, 0])],
  ] as const)("matches the reference: %s", async (label, xs, ws, options, ref) => {
    check(await engineFor(build), label, xs as unknown as Shape4, ws as unknown as Shape4, options as unknown as Conv2dOptions, ref, 3);
  });

  it("serves convTranspose2d's input gradient (a conv forward) the same as the other kernels", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.tensor([2, 4, 5, 16], uniform(640, 1)),
        w = e.tensor([3, 3, 8, 16], uniform(1152, 2));
      const opts = { strides: 2, pads: 1, outputPadding: 1 };
      const dy = e.tensor([2, 8, 10, 8], uniform(1280, 3));
      // dx is the conv's forward, dw its filter gradient: force the blocked kernel for the forward only
      const blocked = Float32Array.from(convTranspose2dBackward(dy, x, w, { ...opts, algorithm: { forward: BLOCKED.name } }, {}, false).dx.data);
      expectClose(blocked, convTranspose2dBackward(dy, x, w, { ...opts, algorithm: { forward: "conv2d.direct" } }).dx.data, { ...TOL, label: "dx" });
    });
  });
});

describe("blocked dispatch", () => {
  it("takes wide groups-1 convs with OC % 8 == 0 only, forward only", () => {
    const target = { build: "simd", threads: 1 } as const;
    const g = (c: number, oc: number, groups = 1) => convGeometry("t", [1, 14, 14, c], [3, 3, c / groups, oc], { groups, pads: 1 });
    expect(BLOCKED.eligible("forward", g(256, 256), target)).toBe(true);
    expect(BLOCKED.eligible("forward", g(256, 12), target)).toBe(false);
    expect(BLOCKED.eligible("forward", g(256, 256, 2), target)).toBe(false);
    expect(BLOCKED.eligible("forward", g(4, 64), target)).toBe(false);
    expect(BLOCKED.supports("forward", g(4, 64), target)).toBe(true);
    expect(BLOCKED.supports("backward_input", g(256, 256), target)).toBe(false);
  });
});
