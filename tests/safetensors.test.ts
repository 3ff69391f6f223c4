import { describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors, loadInto, SimdnetError } from "../src/index.js";
import { engineFor, uniform } from "./harness.js";

/** A safetensors file written independently of the encoder: length prefix, header text, data. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerText = JSON.stringify(header)): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const f32Bytes = (values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);
const bitsOf = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const headerOf = (bytes: Uint8Array): Record<string, any> => {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
};

const sample = () => ({
  "conv1.weight": { shape: [3, 3, 1, 4], data: uniform(36, 1) },
  "fc.bias": { shape: [5], data: Float32Array.from([0, -0, Infinity, -Infinity, NaN]) },
  scalar: { shape: [], data: Float32Array.from([Math.PI]) },
  empty: { shape: [0, 3], data: new Float32Array(0) },
  "ünïcode/näme": { shape: [2, 1], data: uniform(2, 2) },
});

describe("safetensors", () => {
  it("round-trips tensors (bit-exact, incl. -0, ±inf, NaN, scalars, empty) and metadata", () => {
    const tensors = sample();
    const bytes = encodeSafetensors(tensors, { format: "pt", note: "ünïcode ✓" });
    const { tensors: back, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ format: "pt", note: "ünïcode ✓" });
    expect(Object.keys(back).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      expect(back[name]!.shape, name).toEqual(t.shape);
      expect(back[name]!.dtype).toBe("F32");
      expect(bitsOf(back[name]!.data), name).toEqual(bitsOf(t.data));
    }
    // Without metadata there is no __metadata__ entry; decoding gives {}.
    expect(headerOf(encodeSafetensors({ a: { shape: [1], data: new Float32Array(1) } }))).not.toHaveProperty("__metadata__");
    expect(decodeSafetensors(encodeSafetensors({})).tensors).toEqual({});
  });

  it("writes the layout the format specifies: u64 LE length, 8-aligned header, sorted contiguous F32 data", () => {
    const tensors = sample();
    const bytes = encodeSafetensors(tensors);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    expect(bytes[8]).toBe("{".charCodeAt(0));
    const header = headerOf(bytes);
    const names = Object.keys(tensors).sort();
    let offset = 0;
    for (const name of names) {
      const h = header[name];
      expect(h.dtype).toBe("F32");
      expect(h.shape).toEqual(tensors[name as keyof typeof tensors].shape);
      expect(h.data_offsets).toEqual([offset, offset + 4 * tensors[name as keyof typeof tensors].data.length]);
      const data = new Float32Array(bytes.slice(8 + n + h.data_offsets[0], 8 + n + h.data_offsets[1]).buffer);
      expect(bitsOf(data)).toEqual(bitsOf(tensors[name as keyof typeof tensors].data));
      offset = h.data_offsets[1];
    }
    expect(bytes.length).toBe(8 + n + offset);
  });

  it("decodes an independently written file, including from an unaligned view", () => {
    const data = f32Bytes([1, 2, 3, 4, 5, 6]);
    const file = rawFile(
      { b: { dtype: "F32", shape: [2], data_offsets: [16, 24] }, a: { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] }, __metadata__: { k: "v" } },
      data,
    );
    const shifted = new Uint8Array(file.length + 3);
    shifted.set(file, 3);
    for (const bytes of [file, shifted.subarray(3), file.buffer as ArrayBuffer]) {
      const d = decodeSafetensors(bytes);
      expect(Array.from(d.tensors.a!.data)).toEqual([1, 2, 3, 4]);
      expect(Array.from(d.tensors.b!.data)).toEqual([5, 6]);
      expect(d.metadata).toEqual({ k: "v" });
    }
  });

  it("converts F64, F16 and BF16 to float32", () => {
    const f64 = new Float64Array([0.1, -2.5, 1e300, 3]);
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00, 0xfc00, 0x8000, 0x3555]);
    const bf = Float32Array.from([1.5, -3.25, 2 ** -100, 65536]);
    const bf16 = Uint16Array.from(new Uint32Array(bf.buffer), (b) => b >>> 16);
    const data = new Uint8Array(32 + 18 + 8);
    data.set(new Uint8Array(f64.buffer), 0);
    data.set(new Uint8Array(f16.buffer), 32);
    data.set(new Uint8Array(bf16.buffer), 50);
    const d = decodeSafetensors(
      rawFile(
        {
          d: { dtype: "F64", shape: [4], data_offsets: [0, 32] },
          h: { dtype: "F16", shape: [3, 3], data_offsets: [32, 50] },
          b: { dtype: "BF16", shape: [4], data_offsets: [50, 58] },
        },
        data,
      ),
    );
    expect(d.tensors.d!.dtype).toBe("F64");
    expect(Array.from(d.tensors.d!.data)).toEqual([Math.fround(0.1), -2.5, Infinity, 3]);
    const third = 1 / 4 + 341 / 1024 / 4; // 0x3555 = 2^-2 * (1 + 341/1024)
    expect(Array.from(d.tensors.h!.data)).toEqual([1, -2, 0.5, 65504, 2 ** -24, Infinity, -Infinity, -0, Math.fround(third)]);
    expect(Array.from(d.tensors.b!.data)).toEqual([1.5, -3.25, 2 ** -100, 65536]);
  });

  it("rejects a file truncated at every cut point", () => {
    const bytes = encodeSafetensors({ a: { shape: [3, 2], data: uniform(6, 1) }, b: { shape: [5], data: uniform(5, 2) } }, { m: "x" });
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(() => decodeSafetensors(bytes.subarray(0, cut)), `cut at ${cut}`).toThrow(SimdnetError);
    }
    expect(() => decodeSafetensors(bytes.subarray(0, 5))).toThrow(/truncated file: 5 bytes/);
    expect(() => decodeSafetensors(bytes.subarray(0, 40))).toThrow(/header length \d+ exceeds the file/);
    expect(() => decodeSafetensors(bytes.subarray(0, bytes.length - 1))).toThrow(/out of range: the data is \d+ bytes \(truncated file\?\)/);
  });

  const ok = { dtype: "F32", shape: [2], data_offsets: [0, 8] };
  const corruptions: [string, () => Uint8Array, RegExp][] = [
    [
      "a header length beyond the file",
      () => {
        const b = rawFile({ a: ok }, f32Bytes([1, 2]));
        new DataView(b.buffer).setUint32(0, 1000, true);
        return b;
      },
      /header length 1000 exceeds the file/,
    ],
    [
      "a u64 header length above 2^32",
      () => {
        const b = rawFile({ a: ok }, f32Bytes([1, 2]));
        new DataView(b.buffer).setUint32(4, 1, true);
        return b;
      },
      /exceeds the file/,
    ],
    ["bad JSON", () => rawFile(null, f32Bytes([1, 2]), '{"a": {"dtype": "F32",, }'), /header is not valid JSON/],
    ["a header that is not an object", () => rawFile(null, new Uint8Array(0), "[1, 2]"), /must be a JSON object/],
    ["a header that is JSON null", () => rawFile(null, new Uint8Array(0), "null"), /must be a JSON object/],
    [
      "invalid UTF-8",
      () => {
        const b = rawFile({ a: ok }, f32Bytes([1, 2]));
        b[9] = 0xff;
        return b;
      },
      /not valid UTF-8/,
    ],
    ["offsets out of range", () => rawFile({ a: { ...ok, data_offsets: [0, 8] } }, f32Bytes([1])), /out of range/],
    ["overlapping offsets", () => rawFile({ a: ok, b: { dtype: "F32", shape: [2], data_offsets: [4, 12] } }, f32Bytes([1, 2, 3])), /overlap/],
    ["a gap between tensors", () => rawFile({ a: ok, b: { dtype: "F32", shape: [1], data_offsets: [12, 16] } }, f32Bytes([1, 2, 3, 4])), /gap after byte 8/],
    ["data not starting at 0", () => rawFile({ a: { ...ok, data_offsets: [4, 12] } }, f32Bytes([0, 1, 2])), /gap after byte 0/],
    ["trailing bytes", () => rawFile({ a: ok }, f32Bytes([1, 2, 3])), /4 trailing bytes/],
    [
      "a shape/size mismatch",
      () => rawFile({ a: { ...ok, shape: [3] } }, f32Bytes([1, 2])),
      /shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] span 8/,
    ],
    ["offsets that end before they begin", () => rawFile({ a: { ...ok, data_offsets: [8, 0] } }, f32Bytes([1, 2])), /end before they begin/],
    ["an unsupported dtype", () => rawFile({ a: { ...ok, dtype: "I32" } }, f32Bytes([1, 2])), /unsupported dtype "I32"; supported: F32, F64, F16, BF16/],
    ["an unknown dtype", () => rawFile({ a: { ...ok, dtype: "Q4" } }, f32Bytes([1, 2])), /unsupported dtype "Q4" \(not a safetensors dtype\)/],
    ["a negative dimension", () => rawFile({ a: { ...ok, shape: [-2] } }, f32Bytes([1, 2])), /shape must be an array of non-negative integers/],
    ["a fractional dimension", () => rawFile({ a: { ...ok, shape: [1.5] } }, f32Bytes([1, 2])), /non-negative integers/],
    ["malformed data_offsets", () => rawFile({ a: { ...ok, data_offsets: [0] } }, f32Bytes([1, 2])), /data_offsets must be \[begin, end\]/],
    ["a missing dtype", () => rawFile({ a: { shape: [2], data_offsets: [0, 8] } }, f32Bytes([1, 2])), /dtype must be a string/],
    ["an entry that is not an object", () => rawFile({ a: 3 }), /entry must be an object/],
    ["non-string metadata", () => rawFile({ __metadata__: { n: 1 } }), /__metadata__\["n"\] must be a string/],
  ];
  it.each(corruptions)("rejects %s with a clear SimdnetError", (_what, make, message) => {
    const bytes = make();
    expect(() => decodeSafetensors(bytes)).toThrow(SimdnetError);
    expect(() => decodeSafetensors(bytes)).toThrow(message);
  });

  it("encode rejects bad input", () => {
    expect(() => encodeSafetensors({ a: { shape: [2, 2], data: new Float32Array(3) } })).toThrow(
      /encodeSafetensors: tensor "a": shape \[2,2\] holds 4 values but data has 3/,
    );
    expect(() => encodeSafetensors({ a: { shape: [-1], data: new Float32Array(0) } })).toThrow(/non-negative integers/);
    expect(() => encodeSafetensors({ __metadata__: { shape: [1], data: new Float32Array(1) } })).toThrow(/invalid tensor name/);
    expect(() => encodeSafetensors({ a: { shape: [1], data: [1] as never } })).toThrow(/Float32Array/);
    expect(() => encodeSafetensors({}, { a: 1 as never })).toThrow(/metadata\["a"\] must be a string/);
  });

  it("engine tensors encode directly; loadInto validates every name and shape before copying", async () => {
    const e = await engineFor("simd");
    e.tidy(() => {
      const w = e.tensor([2, 3], uniform(6, 1)),
        b = e.tensor([3], uniform(3, 2));
      const bytes = encodeSafetensors({ w, b });
      const decoded = decodeSafetensors(bytes);
      const w2 = e.zeros([2, 3]),
        b2 = e.zeros([3]);
      loadInto({ w: w2, b: b2 }, decoded);
      expect(Array.from(w2.data)).toEqual(Array.from(w.data));
      expect(Array.from(b2.data)).toEqual(Array.from(b.data));

      const x = e.zeros([2, 3]),
        y = e.zeros([4]);
      expect(() => loadInto({ w: x, b: y }, decoded)).toThrow(/loadInto: nothing was loaded: "b" has shape \[3\] in the file but \[4\] in the target/);
      expect(Array.from(x.data).every((v) => v === 0)).toBe(true); // w was valid but must not have been copied
      expect(() => loadInto({ w: x }, decoded)).toThrow(/"b" in the file matches no target/);
      expect(() => loadInto({ w: x, b: e.zeros([3]), c: e.zeros([1]) }, decoded)).toThrow(/"c" is missing from the file/);
      expect(Array.from(x.data).every((v) => v === 0)).toBe(true);
      loadInto({ w: x }, decoded, { allowExtra: true });
      expect(Array.from(x.data)).toEqual(Array.from(w.data));
      const c = e.tensor([1], [7]);
      loadInto({ c, b: b2 }, decoded, { allowExtra: true, allowMissing: true });
      expect(c.data[0]).toBe(7);
      expect(() => loadInto({ w: e.ints([2, 3]), b: b2 }, decoded)).toThrow(/must be f32/);
    });
  });
});
