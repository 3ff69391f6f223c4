// The planned runtime (src/graph) against ONNX's conformance cases, through InferenceSession, in every
// build: every case in ../shared/onnx (node/, pytorch-converted/, ops/, light/) passes except those
// listed in PENDING, and every PENDING case still fails (so the list only shrinks: an op that lands
// deletes its cases from it).
import { describe, expect, it } from "vitest";
import { findOnnxCases, formatOnnxResult, runOnnxCase } from "../src/onnx/conformance.js";
import { BUILDS_UNDER_TEST, engineFor, HAS_ONNX, ONNX_DIR } from "./harness.js";
import { PENDING } from "./graph-pending.js";

const dir = (d: string) => (HAS_ONNX ? findOnnxCases(new URL(`${d}/`, ONNX_DIR).pathname) : []);
const CASES = [...dir("node"), ...dir("pytorch-converted"), ...dir("ops")];
const NETS = dir("light");
const nameOf = (path: string) =>
  path
    .split("/")
    .pop()!
    .replace(/\.onnx$/, "");

describe.each(BUILDS_UNDER_TEST)("InferenceSession conformance (%s)", (build) => {
  it("finds the cases", () => expect(HAS_ONNX ? CASES.length + NETS.length : 1).toBeGreaterThan(0));
  it.each(CASES.map((c) => [nameOf(c), c]))("%s", async (name, path) => {
    const r = await runOnnxCase(path, { engine: await engineFor(build) });
    if (PENDING.has(name)) expect(r.passed, `${name} passes now: delete it from tests/graph-pending.ts`).toBe(false);
    else expect(r.passed, formatOnnxResult(r)).toBe(true);
  });
  // whole networks (ConstantOfShape weights: the output is uniform, see ../shared/onnx/README.md);
  // VGG-19 at 224x224 takes minutes in the scalar build on a busy 2-core machine
  it.each(NETS.map((c) => [nameOf(c), c]))(
    "%s",
    async (name, path) => {
      const r = await runOnnxCase(path, { engine: await engineFor(build) });
      expect(r.passed, formatOnnxResult(r)).toBe(true);
      void name;
    },
    300_000,
  );
});
