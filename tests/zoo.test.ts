// The zoo: parameter counts against published totals (or counts recomputed here from the papers'
// tables), summary() totals, and every model planned and run at a small batch / reduced input.
import { describe, expect, it } from "vitest";
import * as nn from "../src/index.js";
import { BUILDS_UNDER_TEST, engineFor, uniform } from "./harness.js";

const build = BUILDS_UNDER_TEST[BUILDS_UNDER_TEST.length - 1]!; // shapes and counts do not depend on the build

describe("zoo parameter counts and summary()", () => {
  it("LeNet-5 (MNIST adaptation): 61,706 parameters", () => {
    const conv = (k: number, cin: number, cout: number) => k * k * cin * cout + cout;
    const dense = (i: number, o: number) => i * o + o;
    const expected = conv(5, 1, 6) + conv(5, 6, 16) + dense(5 * 5 * 16, 120) + dense(120, 84) + dense(84, 10);
    expect(expected).toBe(61706);
    const s = nn.summary(nn.lenet5());
    expect(s.totalParams).toBe(expected);
    expect(s.rows.map((r) => r.shape.join("x"))).toEqual(["28x28x1", "28x28x6", "14x14x6", "10x10x16", "5x5x16", "120", "84", "10"]);
    expect(s.totalActivations).toBe(784 + 4704 + 1176 + 1600 + 400 + 120 + 84 + 10);
  });

  it("AlexNet: 60,965,224 (Caffe bvlc_alexnet, grouped conv2/4/5), 62,378,344 ungrouped", () => {
    expect(nn.summary(nn.alexnet()).totalParams).toBe(60965224);
    expect(nn.summary(nn.alexnet({ groups: false })).totalParams).toBe(62378344);
    const s = nn.summary(nn.alexnet());
    expect(s.rows.find((r) => r.name === "pool3")!.shape).toEqual([6, 6, 256]);
  });

  it("VGG-16: 138,357,544 parameters and 15,237,608 activation values per image (input included)", () => {
    const s = nn.summary(nn.vgg16());
    expect(s.totalParams).toBe(138357544);
    expect(s.totalActivations).toBe(15237608);
    expect(s.activationBytesForward).toBe(15237608 * 4); // ~61 MB per image
    expect(s.activationBytesWithBackward).toBe(2 * 15237608 * 4);
    expect(s.table).toContain("138,357,544");
    expect(s.table).toContain("15,237,608 values = 61.0 MB forward, 121.9 MB with backward");
    expect(s.rows.find((r) => r.name === "dropout1")!.type).toContain("in place");
  });

  it("GoogLeNet without aux heads: 6,998,552, recomputed from the paper's Table 1", () => {
    const conv = (k: number, cin: number, cout: number) => k * k * cin * cout + cout;
    let expected = conv(7, 3, 64) + conv(1, 64, 64) + conv(3, 64, 192);
    let cin = 192;
    for (const m of ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"]) {
      const [a, b3r, b3, b5r, b5, pp] = nn.GOOGLENET_MODULES[m]!;
      expected += conv(1, cin, a) + conv(1, cin, b3r) + conv(3, b3r, b3) + conv(1, cin, b5r) + conv(5, b5r, b5) + conv(1, cin, pp);
      cin = a + b3 + b5 + pp;
    }
    expect(cin).toBe(1024);
    expected += cin * 1000 + 1000;
    const s = nn.summary(nn.googlenet());
    expect(s.totalParams).toBe(expected);
    expect(expected).toBe(6998552);
    // the paper's stage shapes
    const shape = (n: string) => s.rows.find((r) => r.name === n)!.shape;
    expect(shape("pool2/3x3_s2")).toEqual([28, 28, 192]);
    expect(shape("inception_3a/output")).toEqual([28, 28, 256]);
    expect(shape("inception_4e/output")).toEqual([14, 14, 832]);
    expect(shape("inception_5b/output")).toEqual([7, 7, 1024]);
  });

  it("ResNet-18: 11,689,512 and ResNet-50: 25,557,032 (torchvision, running statistics excluded)", () => {
    const r18 = nn.summary(nn.resnet18()),
      r50 = nn.summary(nn.resnet50());
    expect(r18.totalParams).toBe(11689512);
    expect(r50.totalParams).toBe(25557032);
    expect(r50.rows.find((r) => r.name === "layer4.2/out")!.shape).toEqual([7, 7, 2048]);
    // running mean + variance: 2 per batch-norm channel
    const bnChannels = r18.rows.filter((r) => r.type.startsWith("batchNorm")).reduce((a, r) => a + r.shape[r.shape.length - 1]!, 0);
    expect(r18.totalBuffers).toBe(2 * bnChannels);
  });

  it("zoo options change classes and input size", () => {
    expect(nn.summary(nn.resnet18({ classes: 10 })).totalParams).toBe(11689512 - 512 * 990 - 990);
    expect(nn.summary(nn.segnet({ inputSize: 32, classes: 3 })).rows.at(-1)!.shape).toEqual([32, 32, 3]);
    expect(nn.summary(nn.lenet5({ inputSize: 32 })).rows.find((r) => r.name === "pool2")!.shape).toEqual([6, 6, 16]);
  });
});

describe(`zoo models plan and run (${build} build)`, () => {
  const cases: [string, () => nn.ModelSpec, number, boolean][] = [
    ["lenet5", () => nn.lenet5(), 2, true],
    ["alexnet @67", () => nn.alexnet({ inputSize: 67, classes: 10 }), 1, false],
    ["vgg16 @32", () => nn.vgg16({ inputSize: 32, fcUnits: 64, classes: 10 }), 1, true],
    ["googlenet @64", () => nn.googlenet({ inputSize: 64, classes: 10 }), 1, false],
    ["resnet18 @32", () => nn.resnet18({ inputSize: 32, classes: 10 }), 2, true],
    ["resnet50 @32", () => nn.resnet50({ inputSize: 32, classes: 10 }), 1, false],
    ["segnet @32", () => nn.segnet({ inputSize: 32, classes: 3 }), 2, true],
  ];
  it.each(cases)("%s", async (_name, make, batch, withBackward) => {
    const e = await engineFor(build);
    const spec = make();
    const m = new nn.Model(e, spec, { batch, backward: withBackward, seed: 1 });
    const inShape = m.graph.inputs[0]!.shape;
    const outShape = m.graph.shapes.get(m.graph.outputs[0]!)!;
    const x = uniform(batch * inShape.reduce((a, b) => a * b, 1), 3);
    const y = m.forward(x, { training: withBackward });
    expect(y.shape).toEqual([batch, ...outShape]);
    expect(y.toArray().every(Number.isFinite)).toBe(true);
    expect(y.toArray().some((v) => v !== 0)).toBe(true);
    if (withBackward) {
      const dx = m.backward(uniform(y.size, 4));
      expect(dx.shape).toEqual([batch, ...inShape]);
      expect(dx.toArray().every(Number.isFinite)).toBe(true);
      const g = m.parameters()[0]!.grad!.toArray();
      expect(g.some((v) => v !== 0)).toBe(true);
    } else {
      expect(() => m.backward(new Float32Array(y.size))).toThrow(/backward: false/);
      expect(() => m.parameters()).toThrow(/stateDict/);
    }
    expect(m.code().shape[0]).toBe(batch);
    const mem = m.memoryBytes();
    expect(mem.params).toBeGreaterThanOrEqual(4 * (m.summary().totalParams + m.summary().totalBuffers));
    m.dispose();
  });
});
