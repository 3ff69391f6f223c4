// The whole networks in ../shared/onnx/light (AlexNet, VGG-19, ZFNet-512, SqueezeNet, ShuffleNet) in
// every build, fed arange(n).reshape(shape) / n. NOTE: their weights are ConstantOfShape fills, so
// every class gets the same logit and the expected output is exactly 1/1000 everywhere; these cases
// check that the whole graph imports and runs (shapes, layouts, no NaN), not the arithmetic, which
// tests/onnx.test.ts checks against a float64 reference. VGG-19 takes ~10 s in the scalar build.
// They run through an InferenceSession (runOnnxCase); tests/onnx-model.test.ts imports them as Models.
import { describe, expect, it } from "vitest";
import { findOnnxCases, formatOnnxResult, runOnnxCase } from "../src/onnx/conformance.js";
import { BUILDS_UNDER_TEST, engineFor, HAS_ONNX, ONNX_DIR } from "./harness.js";

const NETS = HAS_ONNX ? findOnnxCases(new URL("light/", ONNX_DIR).pathname) : [];

describe.each(BUILDS_UNDER_TEST)("ONNX light networks (%s build)", (build) => {
  it.skipIf(!HAS_ONNX)("finds the five light networks", () => expect(NETS.length).toBe(5));
  it.each(NETS.map((p) => [p.split("/").pop()!, p]))(
    "%s matches its expected output",
    async (_name, path) => {
      const r = await runOnnxCase(path, { engine: await engineFor(build) });
      expect(r.passed, formatOnnxResult(r)).toBe(true);
    },
    300_000,
  ); // VGG-19 in the scalar build: ~10 s on an idle core, 150-185 s on this project's shared machines under load
});
