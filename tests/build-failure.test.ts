// A model build that throws frees everything it allocated: createModel / importOnnxModel /
// importOnnx failing many times leave the heap's bytes in use unchanged, and a valid model still
// builds afterwards.
import { describe, expect, it } from "vitest";
import * as nn from "../src/index.js";
import { floatTensor, int, ints, node, onnxBytes } from "./onnx-build.js";
import { BUILDS_UNDER_TEST, engineFor, uniform } from "./harness.js";

const CNN: nn.AnyLayerSpec[] = [
  { type: "conv", name: "conv1", filters: 8, size: 3, pad: 1, activation: "relu" },
  { type: "pool", mode: "max", size: 2, stride: 2 },
  { type: "dense", name: "fc", units: 10 },
];

/** Conv (group 2 over 4 channels) whose weights say Cin/groups = 4: they do not fit the layer. */
function badGroupConv(): Uint8Array {
  return onnxBytes(
    [node("Conv", ["x", "w"], "y", [ints("kernel_shape", [3, 3]), int("group", 2)])],
    [floatTensor("w", [8, 4, 3, 3], uniform(288, 1))],
    [1, 4, 8, 8],
    "y",
  );
}

/** A valid conv, then a Gemm whose weights do not match the flattened activations. */
function badGemm(): Uint8Array {
  return onnxBytes(
    [
      node("Conv", ["x", "w"], "c", [ints("kernel_shape", [3, 3])]),
      node("Flatten", ["c"], "f", [int("axis", 1)]),
      node("Gemm", ["f", "wg"], "y", [int("transB", 1)]),
    ],
    [floatTensor("w", [8, 4, 3, 3], uniform(288, 1)), floatTensor("wg", [10, 7], uniform(70, 2))],
    [1, 4, 8, 8],
    "y",
  );
}

describe.each(BUILDS_UNDER_TEST)("failed model builds free their memory (%s build)", (build) => {
  it("createModel with a wrongly shaped initial parameter", async () => {
    const e = await engineFor(build);
    const before = e.heap.bytesInUse;
    for (let i = 0; i < 50; i++) {
      expect(() => nn.createModel(e, CNN, { inputShape: [16, 16, 3], initialParams: { "conv1.weight": new Float32Array(5) } })).toThrow(nn.SimdnetError);
      expect(() => nn.createModel(e, CNN, { inputShape: [16, 16, 3], codeLayer: "nope" })).toThrow(nn.SimdnetError);
      expect(() => nn.createModel(e, CNN, { inputShape: [16, 16, 3], initialParams: { "fc.weight": [NaN] } })).toThrow(nn.SimdnetError);
    }
    expect(e.heap.bytesInUse).toBe(before);
    const m = nn.createModel(e, CNN, { inputShape: [16, 16, 3], batch: 2 });
    m.dispose();
    expect(e.heap.bytesInUse).toBe(before);
  });

  it("importOnnxModel and importOnnx whose weights do not fit a layer", async () => {
    const e = await engineFor(build);
    const before = e.heap.bytesInUse;
    for (const bytes of [badGroupConv(), badGemm()]) {
      for (let i = 0; i < 30; i++) {
        expect(() => nn.importOnnxModel(e, bytes)).toThrow(nn.SimdnetError);
        expect(e.heap.bytesInUse).toBe(before);
        try {
          const m = nn.importOnnx(e, bytes);
          expect(() => m.run({ x: { dims: [1, 4, 8, 8], data: new Float32Array(256) } })).toThrow(nn.SimdnetError);
          m.dispose();
        } catch (err) {
          expect(err).toBeInstanceOf(nn.SimdnetError);
        }
        expect(e.heap.bytesInUse).toBe(before);
      }
    }
    // a valid model still builds, and frees everything on dispose
    const ok = onnxBytes([node("Conv", ["x", "w"], "y", [ints("kernel_shape", [3, 3])])], [floatTensor("w", [8, 4, 3, 3], uniform(288, 1))], [1, 4, 8, 8], "y");
    const m = nn.importOnnxModel(e, ok, { batch: 1 });
    expect(m.runOnnx({ x: { dims: [1, 4, 8, 8], data: new Float32Array(256) } }).y!.dims).toEqual([1, 8, 6, 6]);
    m.dispose();
    const x = nn.importOnnx(e, ok);
    x.run({ x: { dims: [1, 4, 8, 8], data: new Float32Array(256) } });
    x.dispose();
    expect(e.heap.bytesInUse).toBe(before);
  });

  it("importOnnxModel keeps nothing of the constants it folded", async () => {
    const e = await engineFor(build);
    const before = e.heap.bytesInUse;
    // the second conv's weights are computed at import by a conv over constants
    const bytes = onnxBytes(
      [node("Conv", ["cx", "cw"], "w", [ints("kernel_shape", [3, 3])]), node("Conv", ["x", "w"], "y", [ints("kernel_shape", [3, 3])])],
      [floatTensor("cx", [8, 4, 5, 5], uniform(800, 1)), floatTensor("cw", [4, 4, 3, 3], uniform(144, 2))],
      [1, 4, 8, 8],
      "y",
    );
    for (let i = 0; i < 3; i++) {
      const m = nn.importOnnxModel(e, bytes);
      m.dispose();
      expect(e.heap.bytesInUse).toBe(before);
    }
  });
});
