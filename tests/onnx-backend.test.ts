// ONNX's own one-operator backend tests (onnx/backend/test/data/node, vendored in tests/onnx-backend:
// see its README) through an InferenceSession in every build: every vendored case passes. These
// are the cases beyond ../shared/onnx that scripts/onnx-sweep.mjs found passing, or made pass.
import { describe, expect, it } from "vitest";
import { findOnnxCases, formatOnnxResult, runOnnxCase } from "../src/onnx/conformance.js";
import { BUILDS_UNDER_TEST, engineFor } from "./harness.js";

const CASES = findOnnxCases(new URL("onnx-backend/", import.meta.url).pathname);

describe.each(BUILDS_UNDER_TEST)("ONNX backend tests (%s build)", (build) => {
  it(`passes all ${CASES.length} vendored cases`, async () => {
    expect(CASES.length).toBeGreaterThan(600);
    const engine = await engineFor(build);
    const failures: string[] = [];
    for (const c of CASES) {
      const r = await runOnnxCase(c, { engine });
      if (!r.passed) failures.push(formatOnnxResult(r));
    }
    expect(failures).toEqual([]);
  }, 300_000);
});
