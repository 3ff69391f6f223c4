// The engine's memory budget (init option memoryLimit): any tensor, model parameters, model plan
// or ONNX host-side buffer that cannot fit is refused with an OutOfMemoryError before anything is
// allocated (linear memory does not grow, bytes in use are unchanged) or computed.
import { describe, expect, it } from "vitest";
import * as nn from "../src/index.js";
import { DataType, type TensorProto } from "../src/onnx/onnx-proto.js";
import { AttributeType } from "../src/onnx/onnx-proto.js";
import { floats, floatTensor, int64Tensor, node, onnxBytes } from "./onnx-build.js";

const MiB = 2 ** 20;

/** Runs `f`, expecting an OutOfMemoryError (or `type`), with memory and heap left as they were. */
function expectRefused(
  e: nn.Engine,
  f: () => unknown,
  what?: string | RegExp,
  type: abstract new (...args: never[]) => Error = nn.OutOfMemoryError,
  label = "",
): nn.OutOfMemoryError {
  const pages = e.memory.buffer.byteLength,
    inUse = e.heap.bytesInUse;
  let err: unknown;
  try {
    f();
  } catch (caught) {
    err = caught;
  }
  expect(err, `${label}: expected an ${type.name}, got ${String(err)}`).toBeInstanceOf(type);
  if (what) expect((err as Error).message).toMatch(what);
  expect(e.memory.buffer.byteLength, "linear memory grew").toBe(pages);
  expect(e.heap.bytesInUse, "bytes in use changed").toBe(inUse);
  return err as nn.OutOfMemoryError;
}

describe("memory budget", () => {
  it("init validates memoryLimit; the default is 2 GiB, below the wasm32 maximum", async () => {
    expect((await nn.init({ build: "scalar" })).memoryLimit).toBe(2 ** 31);
    expect(nn.DEFAULT_MEMORY_LIMIT).toBe(2 ** 31);
    expect((await nn.init({ build: "scalar", memoryLimit: 64 * MiB })).memoryLimit).toBe(64 * MiB);
    for (const bad of [0, -1, 1000, NaN, Infinity, 2 ** 33, "1GB"]) {
      await expect(nn.init({ build: "scalar", memoryLimit: bad as number }), String(bad)).rejects.toThrow(/memoryLimit must be/);
    }
  });

  it("refuses tensors past the limit, naming the limit; smaller ones still fit", async () => {
    const e = await nn.init({ build: "simd", memoryLimit: 16 * MiB });
    const keep = e.tensor([4], [1, 2, 3, 4]);
    const err = expectRefused(e, () => e.zeros([5 * MiB]), /memory limit is 16777216 bytes \(init option memoryLimit\)/);
    expect(err.bytesLimit).toBe(16 * MiB);
    expect(err.limitKind).toBe("budget");
    expectRefused(e, () => e.empty([1 << 30, 1 << 30]));
    expect(() => nn.checkBudget(e, 17 * MiB, "a plan")).toThrow(/a plan needs 17825792 bytes/);
    nn.checkBudget(e, MiB, "a plan"); // fits: no error
    const t = e.zeros([3 * MiB]); // 12 MiB fits
    expectRefused(e, () => e.zeros([MiB]), /needs 4194304 bytes, 12[0-9]+ bytes are in use/);
    t.dispose();
    expect(Array.from(keep.data)).toEqual([1, 2, 3, 4]);
  });

  it("refuses model parameters and a model plan before allocating, keeping the current plan", async () => {
    const e = await nn.init({ build: "simd", memoryLimit: 64 * MiB });
    const huge: nn.AnyLayerSpec[] = [{ type: "dense", units: 100_000 }];
    expectRefused(e, () => nn.createModel(e, huge, { inputShape: [100_000] }), /model parameters and their gradients/);
    const m = nn.createModel(e, [{ type: "conv", filters: 16, size: 3, pad: 1 }], { inputShape: [64, 64, 3], batch: 1 });
    const y = m.forward(new Float32Array(64 * 64 * 3).fill(1)).toArray();
    expectRefused(e, () => m.plan(4096), /the plan for batch 4096/);
    expect(m.batch).toBe(1); // the old plan is intact
    expect(m.forward(new Float32Array(64 * 64 * 3).fill(1)).toArray()).toEqual(y);
    m.dispose();
  });

  describe("ONNX graphs whose values would not fit are refused while planning", () => {
    const e = nn.init({ build: "simd", memoryLimit: 256 * MiB });
    /** Resize of a [1, 1, 4, 4] image by scales [1, 1, scale, 1]. */
    const resize = (constantInput: boolean, scale = 1e8) =>
      onnxBytes(
        [
          node("Resize", [constantInput ? "c" : "x", "", "scales"], "y", [{ name: "mode", type: AttributeType.STRING, s: "nearest" }]),
          ...(constantInput ? [node("Add", ["x", "y"], "z")] : []),
        ],
        [floatTensor("scales", [4], [1, 1, scale, 1]), ...(constantInput ? [floatTensor("c", [1, 1, 4, 4], new Float32Array(16))] : [])],
        [1, 1, 4, 4],
        constantInput ? "z" : "y",
      );
    const feed = { x: { dims: [1, 1, 4, 4], data: new Float32Array(16) } };

    it("a 200-byte Resize with scales 1e8 or 1e9: importOnnx, the Model import and import-time folding refuse it while planning", async () => {
      const engine = await e;
      const bytes = resize(false);
      expect(bytes.length).toBeLessThan(300);
      // importOnnx and importOnnxModel share InferenceSession's front end: shapes are inferred (and
      // refused) before anything is allocated; the input shape is fixed, so that happens at import
      const big = /node 0 "y" \(Resize\): scales \[1,1,100000000,1\] gives an output of shape \[1,1,400000000,4\].*larger than wasm32 memory/;
      expectRefused(engine, () => nn.importOnnx(engine, bytes).run(feed), big, nn.SimdnetError);
      expectRefused(engine, () => nn.importOnnxModel(engine, bytes, { backward: false }), big, nn.SimdnetError);
      const huge = /\(Resize\): scales \[1,1,1000000000,1\] gives an output of shape \[1,1,4000000000,4\]/;
      expectRefused(engine, () => nn.importOnnx(engine, resize(false, 1e9)), huge, nn.SimdnetError);
      expectRefused(engine, () => nn.importOnnxModel(engine, resize(false, 1e9)), huge, nn.SimdnetError);
      expectRefused(engine, () => nn.importOnnx(engine, resize(true)), /Resize/, nn.SimdnetError);
      expectRefused(engine, () => nn.importOnnxModel(engine, resize(true)), /Resize/, nn.SimdnetError);
    });

    it("Upsample (opset 7 and 9), Pad, ConstantOfShape, Gather, broadcasting and Concat", async () => {
      const engine = await e;
      const upsample7 = onnxBytes([node("Upsample", ["x"], "y", [floats("scales", [1, 1, 1e4, 1e4])])], [], [1, 1, 4, 4], "y", { opset: 7 });
      const upsample9 = onnxBytes([node("Upsample", ["x", "s"], "y")], [floatTensor("s", [4], [1, 1, 1e5, 1e5])], [1, 1, 4, 4], "y", { opset: 9 });
      const pad = onnxBytes([node("Pad", ["x", "p"], "y")], [int64Tensor("p", [8], [0, 0, 1e5, 1e4, 0, 0, 1e5, 1e4])], [1, 1, 4, 4], "y");
      const value: TensorProto = { name: "", dims: [1], dataType: DataType.INT64, data: Float64Array.of(7) };
      const constantOfShape = onnxBytes(
        [node("ConstantOfShape", ["shape"], "c", [{ name: "value", type: AttributeType.TENSOR, t: value }]), node("Add", ["x", "c"], "y")],
        [int64Tensor("shape", [1], [2 ** 30])],
        [1],
        "y",
      );
      const gather = onnxBytes([node("Gather", ["x", "i"], "y")], [int64Tensor("i", [65536], new Array(65536).fill(0))], [16, 65536], "y");
      const broadcast = onnxBytes([node("Mul", ["x", "b"], "y")], [floatTensor("b", [65536, 1], new Float32Array(65536))], [1, 65536], "y");
      const concat = onnxBytes(
        [node("Concat", Array(4000).fill("c"), "big", [{ name: "axis", type: AttributeType.INT, i: 0 }]), node("Mul", ["x", "big"], "y")],
        [floatTensor("c", [1, 32768], new Float32Array(32768))],
        [1, 32768],
        "y",
      );
      const cases = [
        ["Upsample 7", upsample7, [1, 1, 4, 4]],
        ["Upsample 9", upsample9, [1, 1, 4, 4]],
        ["Pad", pad, [1, 1, 4, 4]],
        ["ConstantOfShape", constantOfShape, [1]],
        ["Gather", gather, [16, 65536]],
        ["Mul", broadcast, [1, 65536]],
        ["Concat", concat, [1, 32768]],
        ["Resize", resize(false), [1, 1, 4, 4]],
        ["Resize", resize(true), [1, 1, 4, 4]],
      ] as const;
      // importOnnx (a wrapper over InferenceSession) refuses each, naming the op
      for (const [name, bytes, dims] of cases.slice(0, -2)) {
        const size = (dims as readonly number[]).reduce((a, b) => a * b, 1);
        expectRefused(
          engine,
          () => {
            const m = nn.importOnnx(engine, bytes);
            try {
              m.run({ x: { dims: [...dims], data: new Float32Array(size) } });
            } finally {
              m.dispose();
            }
          },
          new RegExp(`\\(${name.split(" ")[0]!}\\)`),
          nn.SimdnetError,
          name,
        );
      }
      // the planned runtime (InferenceSession) refuses them while planning (at create: every input
      // shape is fixed), before allocating or computing anything
      const refused: string[] = [];
      for (const [name, bytes] of cases) {
        const before = engine.heap.bytesInUse;
        let err: unknown;
        try {
          void nn.InferenceSession.fromBytes(engine, bytes).release();
        } catch (caught) {
          err = caught;
        }
        expect(engine.heap.bytesInUse, name).toBe(before);
        if (err instanceof nn.SimdnetError && /unsupported node/.test(err.message)) continue; // not in the graph runtime yet
        // past the engine's limit, or (an op's own check) past what wasm32 can address at all
        expect(err, `${name}: ${String(err)}`).toBeInstanceOf(nn.SimdnetError);
        expect((err as Error).message, name).toMatch(
          err instanceof nn.OutOfMemoryError ? /init option memoryLimit/ : new RegExp(`\\(${name.split(" ")[0]}\\):.*larger than wasm32 memory \\(4 GiB\\)`),
        );
        refused.push(name);
      }
      expect(refused).toEqual(expect.arrayContaining(["Upsample 7", "Upsample 9", "Pad", "ConstantOfShape", "Gather", "Resize"]));
    });
  });

  describe("InferenceSession", () => {
    /** z = x + zeros([n, 4]) for x [1, 4]. */
    const expand = (n: number) =>
      onnxBytes([node("ConstantOfShape", ["shape"], "y"), node("Add", ["x", "y"], "z")], [int64Tensor("shape", [2], [n, 4])], [1, 4], "z");
    const feed = { x: { dims: [1, 4], data: Float32Array.of(-1, 2, -3, 4) } };

    it("create's memoryLimit and maxPlanBytes refuse a plan while planning; smaller plans still run", async () => {
      const s = await nn.InferenceSession.create(expand(1024), { build: "simd", memoryLimit: 16 * MiB });
      expect(s.engine.memoryLimit).toBe(16 * MiB);
      expect(Array.from((await s.run(feed)).z!.data as Float32Array).slice(0, 8)).toEqual([-1, 2, -3, 4, -1, 2, -3, 4]);
      await s.release();
      const e = await nn.init({ build: "simd", memoryLimit: 16 * MiB });
      const baseline = e.heap.bytesInUse;
      // one value past the limit: refused where its shape is inferred, naming the node
      expectRefused(
        e,
        () => nn.InferenceSession.fromBytes(e, expand(2 ** 21)),
        /"y" \(ConstantOfShape\): an output of shape \[2097152,4\] needs 33554432 bytes.*memoryLimit/,
      );
      // a session's own cap, below the engine's
      const capped = expectRefused(e, () => nn.InferenceSession.fromBytes(e, expand(2 ** 17), { maxPlanBytes: MiB }), /option maxPlanBytes/);
      expect(capped.limitKind).toBe("plan");
      expect(() => nn.InferenceSession.fromBytes(e, expand(4), { maxPlanBytes: -1 })).toThrow(/maxPlanBytes must be a number of bytes > 0/);
      await expect(nn.InferenceSession.create(expand(4), { engine: e, memoryLimit: MiB })).rejects.toThrow(/a given engine keeps its own/);
      // an input whose size comes with the feed: planned (and refused) at run, the session usable after
      const dynamic = nn.InferenceSession.fromBytes(e, onnxBytes([node("Add", ["x", "x"], "y")], [], ["N", 4], "y"));
      expectRefused(
        e,
        () => dynamic.runSync({ x: { dims: [2 ** 20, 4], data: new Float32Array(2 ** 22) } }),
        /"y" \(Add\): an output of shape \[1048576,4\] needs 16777216 bytes/,
      );
      // values that fit one by one, a plan that does not (x and y, 12 MiB each)
      const n = 2 ** 19 + 2 ** 18;
      expectRefused(
        e,
        () => dynamic.runSync({ x: { dims: [n, 4], data: new Float32Array(4 * n) } }),
        /the plan \(activations, workspace and kernel parameters\) needs 2516[0-9]{4} bytes/,
      );
      expect(Array.from(dynamic.runSync(feed).y!.data as Float32Array)).toEqual([-2, 4, -6, 8]);
      await dynamic.release();
      expect(e.heap.bytesInUse).toBe(baseline);
    });
  });
});
