// Sizes of 2^31 and more: pool kernels, strides, pads and dilations, and LRN sizes, are checked
// against the kernels' 32-bit range with a clear error (never zeros, wrong values or a trap), and
// checking them costs time that does not grow with absurd kernels.
import { describe, expect, it } from "vitest";
import * as nn from "../src/index.js";
import { AttributeType } from "../src/onnx/onnx-proto.js";
import { ints, node, onnxBytes } from "./onnx-build.js";
import { engineFor, uniform } from "./harness.js";

const BIG = [2 ** 31, 2 ** 31 + 1, 2 ** 32, 2 ** 32 + 2, 2 ** 53];

describe("32-bit range of op arguments", () => {
  it("pools refuse kernels, strides, pads and dilations of 2^31 and more", async () => {
    const e = await engineFor("simd");
    e.tidy(() => {
      const x = e.tensor([1, 4, 5, 2], uniform(40, 1));
      const pools = [
        (o: nn.Pool2dOptions) => nn.maxPool2d(x, o),
        (o: nn.Pool2dOptions) => nn.maxPool2dInference(x, o),
        (o: nn.Pool2dOptions) => nn.avgPool2d(x, o),
        (o: nn.Pool2dOptions) => nn.pool2dOutputShape(x.shape, o),
      ];
      for (const big of BIG) {
        for (const o of [
          { kernel: [1, big] },
          { kernel: [big, 1] },
          { kernel: 2, strides: [1, big] },
          { kernel: 2, pads: [0, big, 0, 0] },
          { kernel: 2, dilations: [big, 1] },
          { kernel: [1, big], autoPad: "SAME_UPPER" },
          { kernel: 2, strides: big, autoPad: "SAME_LOWER" },
        ] as nn.Pool2dOptions[]) {
          for (const pool of pools) expect(() => pool(o), JSON.stringify(o)).toThrow(nn.SimdnetError);
        }
      }
      // in range but absurd: a window larger than the padded input (as ONNX shape inference), or
      // indices past i32 inside the kernels
      for (const o of [
        { kernel: [1, 2 ** 31 - 1] },
        { kernel: [1, 2 ** 31 - 1], autoPad: "SAME_UPPER" },
        { kernel: 2, dilations: [2 ** 30, 1] },
        { kernel: 2, pads: [0, 2 ** 31 - 10, 0, 0] },
        { kernel: [1, 2 ** 30], countIncludePad: true, pads: [0, 2 ** 30, 0, 0] },
        { kernel: 1, strides: 2 ** 31 - 1, pads: [2 ** 31 - 3, 0, 0, 0] },
      ] as nn.Pool2dOptions[]) {
        for (const pool of pools) expect(() => pool(o), JSON.stringify(o)).toThrow(nn.SimdnetError);
      }
      expect(() => nn.maxPool2d(x, { kernel: [1, 2 ** 31] })).toThrow("maxPool2d: kernel must be at most 2147483647 (32-bit), got [1,2147483648]");
      expect(() => nn.avgPool2d(x, { kernel: [1, 2 ** 31 - 1] })).toThrow(
        "avgPool2d: the width window (kernel 2147483647, dilation 1: extent 2147483647) is larger than the padded input",
      );
      // a large stride in range is fine: one window
      expect(nn.maxPool2d(x, { kernel: 2, strides: 2 ** 31 - 1 }).y.shape).toEqual([1, 1, 1, 2]);
    });
  });

  it("SAME pooling with a kernel of a million taps is refused or computed without looping over taps", async () => {
    const e = await engineFor("simd");
    e.tidy(() => {
      const x = e.tensor([1, 3, 3, 1], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const t0 = performance.now();
      const y = nn.maxPool2d(x, { kernel: [1, 1_000_000], autoPad: "SAME_UPPER" }).y;
      // every SAME window of a 3-wide row covers the whole row
      expect(Array.from(y.data)).toEqual([3, 3, 3, 6, 6, 6, 9, 9, 9]);
      const avg = nn.avgPool2d(x, { kernel: [1, 1_000_000], autoPad: "SAME_UPPER" });
      expect(Array.from(avg.data)).toEqual([2, 2, 2, 5, 5, 5, 8, 8, 8]);
      // (not a speed assertion: a loop over a million taps per window in the checks took seconds)
      expect(performance.now() - t0).toBeLessThan(20_000);
    });
  });

  it("ONNX MaxPool / AveragePool with kernel [1, 2^31] or stride 2^32 fail with a SimdnetError in both import paths", async () => {
    const e = await engineFor("simd");
    for (const [op, attrs] of [
      ["MaxPool", [ints("kernel_shape", [1, 2 ** 31])]],
      ["AveragePool", [ints("kernel_shape", [2, 2]), ints("strides", [2 ** 32, 1])]],
      ["MaxPool", [ints("kernel_shape", [2, 2]), ints("dilations", [2 ** 31, 1])]],
      ["MaxPool", [ints("kernel_shape", [2, 2]), ints("pads", [0, 2 ** 31, 0, 0])]],
      ["LRN", [{ name: "size", type: AttributeType.INT, i: 2 ** 31 }]],
    ] as const) {
      const bytes = onnxBytes([node(op, ["x"], "y", [...attrs])], [], [1, 2, 4, 4], "y");
      const feed = { x: { dims: [1, 2, 4, 4], data: new Float32Array(32) } };
      const run = () => {
        const m = nn.importOnnx(e, bytes);
        try {
          m.run(feed);
        } finally {
          m.dispose();
        }
      };
      expect(run, `${op} importOnnx`).toThrow(nn.SimdnetError);
      const runModel = () => {
        const m = nn.importOnnxModel(e, bytes);
        try {
          m.runOnnx(feed);
        } finally {
          m.dispose();
        }
      };
      expect(runModel, `${op} model`).toThrow(nn.SimdnetError);
    }
  });
});
