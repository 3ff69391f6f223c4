// Fine-tuning through the planned runtime (src/graph/train.ts): every parameter gradient of small
// imported networks against central finite differences of the same session's forward, in every
// build; SGD lowers the loss; frozen parameters do not move; a training step allocates nothing.
import { describe, expect, it } from "vitest";
import { InferenceSession } from "../src/graph/session.js";
import { AttributeType, type AttributeProto, DataType, encodeModel, type NodeProto, type TensorProto } from "../src/onnx/onnx-proto.js";
import { SGD } from "../src/train/optimizers.js";
import { BUILDS_UNDER_TEST, engineFor, rng, uniform } from "./harness.js";
import { modelProto } from "./model-proto.js";

const node = (opType: string, input: string[], output: string[], attribute: AttributeProto[] = []): NodeProto => ({
  name: output[0]!,
  opType,
  domain: "",
  input,
  output,
  attribute,
});
const ints = (name: string, v: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ints: v });
const int = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.INT, i: v });
const f = (name: string, v: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f: v });
const floats = (name: string, dims: number[], seed: number, scale = 0.5): TensorProto => ({
  name,
  dims,
  dataType: DataType.FLOAT,
  data: uniform(
    dims.reduce((a, b) => a * b, 1),
    seed,
    -scale,
    scale,
  ),
});
const int64s = (name: string, data: number[]): TensorProto => ({ name, dims: [data.length], dataType: DataType.INT64, data: Float64Array.from(data) });

function model(nodes: NodeProto[], inits: TensorProto[], input: [string, number[]], output: string): Uint8Array {
  return encodeModel(modelProto({ nodes, inits, inputs: [input], outputs: [output] }));
}

/** A small CNN touching most gradient ops: conv, relu, pools, residual add, batch norm, concat, views, gemm. */
function cnn(batch: number): Uint8Array {
  return model(
    [
      node("Conv", ["x", "w1", "b1"], ["c1"], [ints("pads", [1, 1, 1, 1])]),
      node("Relu", ["c1"], ["r1"]),
      node("MaxPool", ["r1"], ["p1"], [ints("kernel_shape", [2, 2]), ints("strides", [2, 2])]),
      node("Conv", ["p1", "w2"], ["c2"]),
      node("Add", ["c2", "p1"], ["s1"]),
      node("BatchNormalization", ["s1", "bn_s", "bn_b", "bn_m", "bn_v"], ["n1"]),
      node("Sigmoid", ["n1"], ["g1"]),
      node("AveragePool", ["n1"], ["a1"], [ints("kernel_shape", [2, 2]), ints("strides", [1, 1])]),
      node("Tanh", ["a1"], ["t1"]),
      node("GlobalAveragePool", ["g1"], ["gp"]),
      node("Flatten", ["t1"], ["f1"]),
      node("Flatten", ["gp"], ["f2"]),
      node("Concat", ["f1", "f2"], ["cat"], [int("axis", 1)]),
      node("Gemm", ["cat", "fc_w", "fc_b"], ["logits"], [int("transB", 1), f("alpha", 0.7)]),
      node("LeakyRelu", ["logits"], ["lr"], [f("alpha", 0.1)]),
      node("Reshape", ["lr", "shape"], ["rs"]),
      node("Transpose", ["rs"], ["tr"], [ints("perm", [0, 2, 1])]),
      node("LogSoftmax", ["tr"], ["y"], [int("axis", 1)]),
    ],
    [
      floats("w1", [4, 3, 3, 3], 1),
      floats("b1", [4], 2),
      floats("w2", [4, 4, 1, 1], 3),
      { name: "bn_s", dims: [4], dataType: DataType.FLOAT, data: Float32Array.of(1.1, 0.9, 1.3, 0.7) },
      floats("bn_b", [4], 4),
      floats("bn_m", [4], 5, 0.1),
      { name: "bn_v", dims: [4], dataType: DataType.FLOAT, data: Float32Array.of(0.8, 1.2, 1.0, 0.6) },
      floats("fc_w", [6, 4 * 3 * 3 + 4], 6, 0.2),
      floats("fc_b", [6], 7),
      int64s("shape", [batch, 2, 3]),
    ],
    ["x", [batch, 3, 8, 8]],
    "y",
  );
}

describe.each(BUILDS_UNDER_TEST)("TrainableSession (%s)", (build) => {
  it("computes every parameter's gradient as finite differences of its forward do", async () => {
    const e = await engineFor(build);
    const batch = 2;
    const s = InferenceSession.fromBytes(e, cnn(batch));
    const t = s.trainable();
    const names = t
      .parameters()
      .map((p) => p.name)
      .sort();
    expect(names).toEqual(["b1", "bn_b", "bn_s", "fc_b", "fc_w", "w1", "w2"]); // not bn_m / bn_v (statistics) nor shape
    const x = uniform(batch * 3 * 64, 11, -1, 1);
    const G = uniform(batch * 6, 12, -1, 1); // loss = sum(y * G)
    const loss = () => {
      const y = t.forward({ x: { dims: [batch, 3, 8, 8], data: x } }).y!.data as Float32Array;
      let l = 0;
      for (let i = 0; i < y.length; i++) l += y[i]! * G[i]!;
      return l;
    };
    t.zeroGrads();
    loss();
    t.backward({ y: G });
    const r = rng(13);
    for (const p of t.parameters()) {
      const analytic = p.grad.data.slice();
      const v = p.value.data;
      for (let k = 0; k < Math.min(6, v.length); k++) {
        const i = Math.floor(r() * v.length);
        const h = 1e-2 * Math.max(1, Math.abs(v[i]!));
        const keep = v[i]!;
        p.value.data[i] = keep + h;
        const up = loss();
        p.value.data[i] = keep - h;
        const down = loss();
        p.value.data[i] = keep;
        const numeric = (up - down) / (2 * h);
        expect(Math.abs(analytic[i]! - numeric), `${p.name}[${i}]: analytic ${analytic[i]} numeric ${numeric}`).toBeLessThan(
          2e-2 * Math.max(1, Math.abs(numeric)),
        );
      }
    }
    t.release();
    await s.release();
  });

  it("lowers the loss with SGD; frozen parameters do not move; a step allocates nothing", async () => {
    const e = await engineFor(build);
    const batch = 4;
    const s = InferenceSession.fromBytes(e, cnn(batch));
    const t = s.trainable();
    t.freeze(["w1", "b1"]);
    const before = new Map(t.parameters().map((p) => [p.name, p.value.data.slice()]));
    const x = uniform(batch * 3 * 64, 21, -1, 1);
    const labels = Array.from({ length: batch * 2 }, (_, i) => i % 3); // y is log-probabilities [batch, 3, 2]
    const opt = new SGD({ lr: 0.5, momentum: 0.9 });
    const step = () => {
      t.zeroGrads();
      const y = t.forward({ x: { dims: [batch, 3, 8, 8], data: x } }).y!.data as Float32Array;
      // negative log-likelihood over the class axis (1) of [batch, 3, 2]
      const dy = new Float32Array(y.length);
      let l = 0;
      for (let b = 0; b < batch; b++)
        for (let j = 0; j < 2; j++) {
          const c = labels[b * 2 + j]!,
            at = b * 6 + c * 2 + j;
          l -= y[at]!;
          dy[at] = -1 / (batch * 2);
        }
      t.backward({ y: dy });
      opt.step(t.parameters());
      return l / (batch * 2);
    };
    const first = step();
    const used = e.heap.bytesInUse;
    let last = first;
    for (let i = 0; i < 40; i++) last = step();
    expect(last).toBeLessThan(0.5 * first);
    for (const p of t.parameters()) {
      if (p.name === "w1" || p.name === "b1") expect(Array.from(p.value.data), p.name).toEqual(Array.from(before.get(p.name)!));
      else expect(Array.from(p.value.data), p.name).not.toEqual(Array.from(before.get(p.name)!));
    }
    // optimizer state exists from the first step on; the steps since allocated nothing more
    expect(e.heap.bytesInUse).toBe(used);
    opt.dispose();
    t.release();
    await s.release();
  });
});
