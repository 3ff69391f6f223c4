// The protobuf wire reader/writer and the onnx.proto decoder/encoder: known encodings, round trips
// of every conformance model, and truncated / corrupted input failing with SimdnetError (never a
// crash, a hang or an out-of-bounds read).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SimdnetError } from "../src/index.js";
import { ProtoReader, ProtoWriter } from "../src/onnx/protobuf.js";
import { AttributeType, DataType, decodeModel, decodeTensor, encodeModel, encodeTensor, floatToHalf, type ModelProto } from "../src/onnx/onnx-proto.js";
import { findOnnxCases } from "../src/onnx/conformance.js";
import { HAS_ONNX, ONNX_DIR, rng } from "./harness.js";

const modelPath = (c: string) => (c.endsWith(".onnx") ? c : `${c}/model.onnx`);
const CASES = HAS_ONNX ? findOnnxCases(ONNX_DIR.pathname) : [];

describe("protobuf wire format", () => {
  it("reads varints, including 64-bit and negative int64 (10-byte two's complement)", () => {
    // 300 = ac 02; 2^35 = 80 80 80 80 80 01; -1 = ff x9 01; -2^40
    const bytes = Uint8Array.from([0xac, 0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    const r = new ProtoReader(bytes, "test");
    expect(r.int64()).toBe(300);
    expect(r.int64()).toBe(2 ** 35);
    expect(r.int64()).toBe(-1);
    expect(r.done).toBe(true);
  });

  it("writes what it reads: varints up to 2^53, negatives, floats, packed arrays", () => {
    const values = [0, 1, 127, 128, 300, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, -1, -2, -(2 ** 31), -(2 ** 40), -(2 ** 53 - 1)];
    const w = new ProtoWriter();
    w.packedVarints(1, values);
    w.packedFloats(2, [1.5, -0.25, 3e38]);
    w.int(3, -7);
    const r = new ProtoReader(w.finish(), "test");
    const ints: number[] = [],
      floats: number[] = [];
    let [f, wire] = r.key();
    expect(f).toBe(1);
    r.varints(wire, ints);
    [f, wire] = r.key();
    expect(f).toBe(2);
    r.floats(wire, floats);
    [f, wire] = r.key();
    expect([f, wire]).toEqual([3, 0]);
    expect(r.int64()).toBe(-7);
    expect(ints).toEqual(values);
    expect(floats).toEqual([1.5, -0.25, Math.fround(3e38)]);
  });

  it("fails on truncation with the message and field named", () => {
    const w = new ProtoWriter();
    w.string(4, "hello world");
    const bytes = w.finish();
    const r = new ProtoReader(bytes.subarray(0, 6), "NodeProto");
    r.key();
    expect(() => r.string()).toThrow(/NodeProto field 4 .*truncated/);
    // the decoder names fields: a model cut inside its graph
    const m = new ProtoWriter();
    m.int(1, 7);
    m.message(7, (g) => g.string(2, "a graph name"));
    expect(() => decodeModel(m.finish().subarray(0, 8))).toThrow(/ModelProto field 7 \(graph\) at byte \d+: truncated/);
    expect(() => new ProtoReader(Uint8Array.of(0x80, 0x80), "X").int64()).toThrow(/truncated varint/);
    expect(() => new ProtoReader(new Uint8Array(11).fill(0x80), "X").int64()).toThrow(/longer than 10 bytes/);
    expect(() => new ProtoReader(Uint8Array.of(0x0b), "X").skip(3)).toThrow(SimdnetError); // group wire type
  });
});

describe("onnx.proto decoding", () => {
  it("decodes a TensorProto of every supported element type, raw and typed fields", () => {
    const cases = [
      { dataType: DataType.FLOAT, data: Float32Array.of(1.5, -2, 0.25, 3) },
      { dataType: DataType.DOUBLE, data: Float64Array.of(1e-300, -2, 0.1, 3) },
      { dataType: DataType.INT64, data: Float64Array.of(-(2 ** 40), -1, 0, 2 ** 50) },
      { dataType: DataType.INT32, data: Float64Array.of(-(2 ** 31), -1, 0, 2 ** 31 - 1) },
      { dataType: DataType.UINT8, data: Float64Array.of(0, 1, 128, 255) },
      { dataType: DataType.INT8, data: Float64Array.of(-128, -1, 0, 127) },
      { dataType: DataType.BOOL, data: Float64Array.of(0, 1, 1, 0) },
    ];
    for (const c of cases) {
      const t = { name: "t", dims: [2, 2], ...c };
      expect(decodeTensor(encodeTensor(t))).toEqual(t);
    }
    // typed fields: dims 3 (field 1), data_type INT64 (2), int64_data packed (7)
    const w = new ProtoWriter();
    w.packedVarints(1, [3]);
    w.int(2, DataType.INT64);
    w.packedVarints(7, [5, -6, 7]);
    expect(decodeTensor(w.finish())).toEqual({ name: "", dims: [3], dataType: DataType.INT64, data: Float64Array.of(5, -6, 7) });
    // float_data not packed (one key per value)
    const u = new ProtoWriter();
    u.int(1, 2);
    u.int(2, DataType.FLOAT);
    u.float(4, 1.25);
    u.float(4, -4);
    expect(decodeTensor(u.finish()).data).toEqual(Float32Array.of(1.25, -4));
  });

  it("rejects external data without a reader, a wrong element count and unsupported element types", () => {
    const ext = new ProtoWriter();
    ext.int(1, 4);
    ext.int(2, DataType.FLOAT);
    ext.string(8, "w");
    ext.message(13, (e) => {
      e.string(1, "location");
      e.string(2, "weights.bin");
    });
    ext.int(14, 1);
    expect(() => decodeTensor(ext.finish())).toThrow(/tensor "w" stores its data in the external file "weights.bin"/);
    const short = new ProtoWriter();
    short.int(1, 3);
    short.int(2, DataType.FLOAT);
    short.packedFloats(4, [1, 2]);
    expect(() => decodeTensor(short.finish())).toThrow(/\(3 elements\) holds 2 FLOAT values/);
    const c64 = new ProtoWriter();
    c64.int(1, 1);
    c64.int(2, 14); // COMPLEX64
    expect(() => decodeTensor(c64.finish())).toThrow(/unsupported element type data_type 14/);
  });

  it("decodes float16 and bfloat16 tensors (raw and int32_data) to float32, exactly", () => {
    // 1, -2, 0.5, 65504 (largest half), 2^-24 (smallest subnormal), -0, Infinity
    const halves = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000, 0x7c00];
    const want = [1, -2, 0.5, 65504, 2 ** -24, -0, Infinity];
    const raw = new ProtoWriter();
    raw.int(1, halves.length);
    raw.int(2, DataType.FLOAT16);
    raw.bytes(9, new Uint8Array(Uint16Array.from(halves).buffer));
    expect(Array.from(decodeTensor(raw.finish()).data)).toEqual(want);
    const packed = new ProtoWriter();
    packed.int(1, halves.length);
    packed.int(2, DataType.FLOAT16);
    packed.packedVarints(5, halves);
    expect(Array.from(decodeTensor(packed.finish()).data)).toEqual(want);
    const bf = new ProtoWriter();
    bf.int(1, 2);
    bf.int(2, 16); // BFLOAT16: the high half of a float32
    bf.bytes(9, new Uint8Array(Uint16Array.from([0x3f80, 0xc040]).buffer));
    expect(Array.from(decodeTensor(bf.finish()).data)).toEqual([1, -3]);
    for (let i = 0; i < halves.length; i++) expect(floatToHalf(want[i]!)).toBe(halves[i]);
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // a tie rounds to even
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(floatToHalf(1e6)).toBe(0x7c00); // overflow: infinity
  });

  it("rejects bytes that are not a model", () => {
    expect(() => decodeModel(new Uint8Array(0))).toThrow(/no graph/);
    expect(() => decodeModel(new TextEncoder().encode("not an onnx model at all"))).toThrow(SimdnetError);
  });

  it("round-trips a hand-built model through encodeModel / decodeModel", () => {
    const m: ModelProto = {
      irVersion: 8,
      producerName: "simdnet",
      producerVersion: "0.1",
      domain: "test",
      modelVersion: 3,
      docString: "doc",
      opsetImport: [
        { domain: "", version: 13 },
        { domain: "com.example", version: 1 },
      ],
      metadataProps: [{ key: "k", value: "v" }],
      graph: {
        name: "g",
        docString: "graph doc",
        node: [
          {
            name: "n0",
            opType: "Conv",
            domain: "",
            input: ["x", "w", ""],
            output: ["y"],
            docString: "node doc",
            attribute: [
              { name: "kernel_shape", type: AttributeType.INTS, ints: [3, 3] },
              { name: "group", type: AttributeType.INT, i: -2 },
              { name: "alpha", type: AttributeType.FLOAT, f: 0.5 },
              { name: "auto_pad", type: AttributeType.STRING, s: "SAME_UPPER" },
              { name: "scales", type: AttributeType.FLOATS, floats: [1, 2.5] },
              { name: "modes", type: AttributeType.STRINGS, strings: ["a", "b"] },
              { name: "value", type: AttributeType.TENSOR, t: { name: "v", dims: [1], dataType: DataType.FLOAT, data: Float32Array.of(7) } },
            ],
          },
        ],
        initializer: [{ name: "w", dims: [2, 1, 3, 3], dataType: DataType.FLOAT, data: Float32Array.from({ length: 18 }, (_, i) => i / 7) }],
        input: [{ name: "x", elemType: DataType.FLOAT, shape: [1, "C", null, 5] }],
        output: [{ name: "y", elemType: DataType.FLOAT }],
        valueInfo: [{ name: "z", elemType: 0 }],
      },
    };
    expect(decodeModel(encodeModel(m))).toEqual(m);
  });

  it.skipIf(!HAS_ONNX)("round-trips every conformance model: decode(encode(decode(bytes))) equals decode(bytes)", () => {
    expect(CASES.length).toBeGreaterThan(100);
    for (const c of CASES) {
      const m = decodeModel(readFileSync(modelPath(c)));
      expect(decodeModel(encodeModel(m)), c).toEqual(m);
    }
  });

  it.skipIf(!HAS_ONNX)("every truncation of real models fails with SimdnetError, never a crash or a hang", () => {
    for (const c of CASES.filter((p) => /test_conv_with_strides_padding|test_gemm_alpha|test_BatchNorm2d_eval|light_squeezenet/.test(p))) {
      const bytes = readFileSync(modelPath(c));
      const step = Math.max(1, Math.floor(bytes.length / 400));
      for (let n = 0; n < bytes.length; n += step) {
        let err: unknown;
        try {
          decodeModel(bytes.subarray(0, n));
        } catch (e) {
          err = e;
        }
        // a cut exactly between two top-level fields can decode to a shorter valid model
        if (err !== undefined) expect(err, `${c} cut at ${n}`).toBeInstanceOf(SimdnetError);
      }
    }
  });

  it.skipIf(!HAS_ONNX)("random byte corruption either decodes or fails with SimdnetError", () => {
    const bytes = readFileSync(modelPath(CASES.find((p) => p.endsWith("test_Conv2d_groups"))!));
    const r = rng(42);
    for (let trial = 0; trial < 300; trial++) {
      const b = Uint8Array.from(bytes);
      for (let k = 0; k < 3; k++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      try {
        decodeModel(b);
      } catch (e) {
        expect(e).toBeInstanceOf(SimdnetError);
      }
    }
  });
});
