// Hand-made hostile ONNX graphs: op types named like Object.prototype members, a graph without
// outputs, an opset above the newest supported, a value produced twice, and long chains (import
// time linear in the node count), through importOnnx, the Model import and InferenceSession.
import { describe, expect, it } from "vitest";
import * as nn from "../src/index.js";
import { DataType, decodeModel, encodeModel } from "../src/onnx/onnx-proto.js";
import { floatTensor, node, onnxBytes } from "./onnx-build.js";
import { engineFor } from "./harness.js";

/** A chain of n unary nodes (Relu / Sigmoid alternating) on a [1, 4] input. */
function chain(n: number): Uint8Array {
  const nodes = [];
  let prev = "x";
  for (let i = 0; i < n; i++) {
    nodes.push(node(i % 2 ? "Relu" : "Sigmoid", [prev], `t${i}`));
    prev = `t${i}`;
  }
  return onnxBytes(nodes, [], [1, 4], prev);
}

const feed = { x: { dims: [1, 4], data: Float32Array.of(-2, -1, 1, 2) } };

describe("hostile ONNX graphs", () => {
  it("weightInputs and the importers handle op types __proto__, constructor, toString", async () => {
    const e = await engineFor("simd");
    for (const opType of ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"]) {
      const proto = decodeModel(onnxBytes([node(opType, ["x", "w"], "y")], [], [1, 4], "y"));
      proto.graph.input.push({ name: "w", elemType: DataType.FLOAT, shape: [4] });
      expect(nn.weightInputs(proto), opType).toEqual([]);
      const bytes = encodeModel(proto);
      expect(() => nn.importOnnx(e, bytes), opType).toThrow(/unsupported node/);
      expect(() => nn.importOnnxModel(e, bytes), opType).toThrow(/unsupported node/);
      expect(() => nn.InferenceSession.fromBytes(e, bytes), opType).toThrow(/unsupported node/);
    }
    // a weight slot of a known op still counts
    const conv = decodeModel(onnxBytes([node("Conv", ["x", "w"], "y")], [], [1, 1, 4, 4], "y"));
    conv.graph.input.push({ name: "w", elemType: DataType.FLOAT, shape: [1, 1, 3, 3] });
    expect(nn.weightInputs(conv)).toEqual(["w"]);
  });

  it("a graph without outputs, and an opset above the newest supported, are clear errors", async () => {
    const e = await engineFor("simd");
    const none = decodeModel(onnxBytes([node("Relu", ["x"], "y")], [], [1, 4], "y"));
    none.graph.output = [];
    const bytes = encodeModel(none);
    // one front end (src/graph/import.ts): the same errors from every entry point
    for (const load of [() => nn.importOnnx(e, bytes), () => nn.importOnnxModel(e, bytes), () => nn.InferenceSession.fromBytes(e, bytes)])
      expect(load).toThrow("onnx: the graph has no outputs");
    expect(nn.MAX_OPSET).toBe(28);
    for (const opset of [29, 99, 2 ** 31]) {
      const b = onnxBytes([node("Relu", ["x"], "y")], [], [1, 4], "y", { opset });
      for (const load of [() => nn.importOnnx(e, b), () => nn.importOnnxModel(e, b), () => nn.InferenceSession.fromBytes(e, b)])
        expect(load).toThrow(`onnx: opset ${opset} of the default domain is not supported (supported: 6 to 28)`);
    }
    const ok = nn.importOnnx(e, onnxBytes([node("Relu", ["x"], "y")], [], [1, 4], "y", { opset: 28 }));
    expect(Array.from(ok.run(feed).y!.data)).toEqual([0, 0, 1, 2]);
    ok.dispose();
  });

  it("a value produced twice (by two nodes, or over an initializer) is an error, leaking nothing", async () => {
    const e = await engineFor("simd");
    const before = e.heap.bytesInUse;
    const twice = onnxBytes([node("Relu", ["x"], "y"), node("Sigmoid", ["x"], "y")], [], [1, 4], "y");
    const overInit = onnxBytes([node("Relu", ["x"], "w")], [floatTensor("w", [4], [1, 2, 3, 4])], [1, 4], "w");
    for (const b of [twice, overInit]) {
      expect(() => nn.importOnnx(e, b)).toThrow(/is already defined/);
      expect(() => nn.importOnnxModel(e, b)).toThrow(/is already defined/);
      expect(() => nn.InferenceSession.fromBytes(e, b)).toThrow(/is already defined/);
    }
    expect(e.heap.bytesInUse).toBe(before);
  });

  // Not a speed assertion: 40,000 nodes import in seconds when the import is linear in the node
  // count, and in tens of minutes (past the test's timeout) when it is quadratic (4.2 s at 8,000).
  it("a chain of 40,000 nodes imports and runs through the three paths", { timeout: 240_000 }, async () => {
    const e = await engineFor("simd");
    const bytes = chain(40_000);
    const m = nn.importOnnx(e, bytes);
    const y = m.run(feed).t39999!.data;
    m.dispose();
    const model = nn.importOnnxModel(e, bytes, { backward: false });
    expect(model.graph.nodes.length).toBe(40_000);
    expect(model.runOnnx(feed).t39999!.data).toEqual(y);
    model.dispose();
    const session = nn.InferenceSession.fromBytes(e, bytes);
    expect(session.runSync(feed).t39999!.data).toEqual(y);
    await session.release();
  });
});
