import { mkdtempSync, readFileSync, writeFileSync, existsSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  Adam,
  batchCount,
  batches,
  dense,
  denseBackward,
  encodeIdx,
  FASHION_MNIST_STATS,
  type LabeledImages,
  loadEmbedded,
  loadIdxFile,
  loadMnistLike,
  parseIdx,
  type Param,
  shuffledIndices,
  SimdnetError,
  softmaxCrossEntropy,
  softmaxCrossEntropyBackward,
  toFloatImages,
  zeroGrads,
} from "../src/index.js";
import { gunzip } from "../src/data/idx.js";
import { engineFor } from "./harness.js";

/** An IDX file written by hand (big-endian), independent of encodeIdx. */
function handIdx(type: number, dims: number[], elementBytes: number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + elementBytes.length);
  out[2] = type;
  out[3] = dims.length;
  dims.forEach((d, i) => new DataView(out.buffer).setUint32(4 + 4 * i, d));
  out.set(elementBytes, 4 + 4 * dims.length);
  return out;
}

const DEBIAN = "/usr/share/datasets/fashion-mnist";

describe("IDX reader", () => {
  it("parses every element type from hand-written big-endian bytes", () => {
    const u8 = parseIdx(handIdx(0x08, [2, 3], [0, 1, 2, 253, 254, 255]));
    expect(u8.dims).toEqual([2, 3]);
    expect(u8.type).toBe("u8");
    expect(u8.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(u8.data)).toEqual([0, 1, 2, 253, 254, 255]);
    expect(Array.from(parseIdx(handIdx(0x09, [2], [0x7f, 0x80])).data)).toEqual([127, -128]);
    expect(Array.from(parseIdx(handIdx(0x0b, [2], [0x01, 0x02, 0xff, 0xfe])).data)).toEqual([258, -2]);
    expect(Array.from(parseIdx(handIdx(0x0c, [1, 1, 2], [0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff])).data)).toEqual([256, -1]);
    expect(Array.from(parseIdx(handIdx(0x0d, [1], [0x3f, 0xc0, 0, 0])).data)).toEqual([1.5]);
    expect(Array.from(parseIdx(handIdx(0x0e, [1], [0xc0, 0x04, 0, 0, 0, 0, 0, 0])).data)).toEqual([-2.5]);
    expect(parseIdx(handIdx(0x08, [0, 28, 28], [])).data.length).toBe(0);
  });

  it("encodeIdx and parseIdx round-trip every type; encodeIdx matches hand-written bytes", () => {
    const arrays = [
      Uint8Array.from([1, 2, 3, 4, 5, 6]),
      Int8Array.from([-1, 2, -3, 4, -5, 6]),
      Int16Array.from([-300, 2, 3, 4, 5, 30000]),
      Int32Array.from([-1e9, 2, 3, 4, 5, 1e9]),
      Float32Array.from([0.5, -1, 3, 4e-8, 5, 6]),
      Float64Array.from([0.1, -1, 3, 4, 5, 1e300]),
    ];
    for (const a of arrays) {
      const back = parseIdx(encodeIdx([3, 2], a));
      expect(back.dims).toEqual([3, 2]);
      expect(back.data.constructor).toBe(a.constructor);
      expect(Array.from(back.data)).toEqual(Array.from(a));
    }
    expect(Array.from(encodeIdx([2], Int16Array.from([258, -2])))).toEqual(Array.from(handIdx(0x0b, [2], [1, 2, 0xff, 0xfe])));
    expect(() => encodeIdx([4], Uint8Array.from([1, 2]))).toThrow(/hold 4 elements but data has 2/);
    expect(() => encodeIdx([2], [1, 2] as never)).toThrow(SimdnetError);
  });

  it("rejects bad magic numbers, unknown types and gzip input", () => {
    expect(() => parseIdx(handIdx(0x08, [1], [7]).map((b, i) => (i === 0 ? 1 : b)))).toThrow(/bad magic number 0x01000801/);
    expect(() => parseIdx(handIdx(0x0a, [1], [7]))).toThrow(/unknown IDX element type 0x0a/);
    expect(() => parseIdx(handIdx(0x08, [], []))).toThrow(/at least one dimension/);
    expect(() => parseIdx(new Uint8Array(gzipSync(handIdx(0x08, [1], [7]))))).toThrow(/gzip-compressed/);
    expect(() => parseIdx([0, 0, 8, 1] as never)).toThrow(/expected a Uint8Array/);
  });

  it("rejects a file truncated at every cut point, and trailing bytes", () => {
    const bytes = handIdx(
      0x0c,
      [2, 3],
      Array.from({ length: 24 }, (_, i) => i),
    );
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(() => parseIdx(bytes.subarray(0, cut), "f.idx"), `cut ${cut}`).toThrow(SimdnetError);
    }
    expect(() => parseIdx(bytes.subarray(0, 3), "f.idx")).toThrow(/f.idx is truncated: 3 bytes, the magic number needs 4/);
    expect(() => parseIdx(bytes.subarray(0, 10), "f.idx")).toThrow(/the header of 2 dimensions needs 12/);
    expect(() => parseIdx(bytes.subarray(0, 30), "f.idx")).toThrow(/dims \[2,3\] of i32 need 36 bytes, got 30/);
    const longer = new Uint8Array(bytes.length + 2);
    longer.set(bytes);
    expect(() => parseIdx(longer)).toThrow(/2 unexpected bytes after the data/);
  });

  it("gunzip inflates what zlib compressed and rejects corrupt or truncated streams", async () => {
    const raw = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 251);
    const gz = new Uint8Array(gzipSync(raw));
    expect(Array.from(await gunzip(gz))).toEqual(Array.from(raw));
    await expect(gunzip(gz.subarray(0, gz.length >> 1))).rejects.toThrow(/corrupt or truncated gzip/);
    const bad = gz.slice();
    bad[20] = bad[20]! ^ 0xff;
    bad[21] = bad[21]! ^ 0xff;
    await expect(gunzip(bad)).rejects.toThrow(SimdnetError);
    await expect(gunzip(raw)).rejects.toThrow(/not gzip data/);
  });

  it("loadIdxFile reads raw and gzip files (by content), and names the file in errors", async () => {
    const dir = mkdtempSync(join(tmpdir(), "idx-"));
    const bytes = handIdx(0x08, [2, 2], [9, 8, 7, 6]);
    writeFileSync(join(dir, "a.idx"), bytes);
    writeFileSync(join(dir, "a.idx.gz"), gzipSync(bytes));
    for (const name of ["a.idx", "a.idx.gz"]) {
      const r = await loadIdxFile(join(dir, name));
      expect(r.dims).toEqual([2, 2]);
      expect(Array.from(r.data)).toEqual([9, 8, 7, 6]);
    }
    expect(Array.from((await loadIdxFile(new URL(`file://${dir}/a.idx.gz`))).data)).toEqual([9, 8, 7, 6]);
    writeFileSync(join(dir, "short.idx.gz"), gzipSync(bytes.subarray(0, 14)));
    await expect(loadIdxFile(join(dir, "short.idx.gz"))).rejects.toThrow(/short.idx.gz is truncated/);
    await expect(loadIdxFile(join(dir, "missing.idx"))).rejects.toThrow(/cannot read .*missing.idx/);
  });

  it("loadMnistLike reads the four standard names, gzip or raw, and checks they fit together", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mnist-"));
    const imgs = (n: number) =>
      handIdx(
        0x08,
        [n, 2, 3],
        Array.from({ length: n * 6 }, (_, i) => i),
      );
    const labels = (n: number) =>
      handIdx(
        0x08,
        [n],
        Array.from({ length: n }, (_, i) => i % 10),
      );
    writeFileSync(join(dir, "train-images-idx3-ubyte.gz"), gzipSync(imgs(5)));
    writeFileSync(join(dir, "train-labels-idx1-ubyte"), labels(5));
    writeFileSync(join(dir, "t10k-images-idx3-ubyte"), imgs(2));
    writeFileSync(join(dir, "t10k-labels-idx1-ubyte.gz"), gzipSync(labels(2)));
    const d = await loadMnistLike(dir);
    expect([d.train.count, d.train.height, d.train.width, d.test.count]).toEqual([5, 2, 3, 2]);
    expect(Array.from(d.train.labels)).toEqual([0, 1, 2, 3, 4]);
    expect(d.test.images[11]).toBe(11);
    writeFileSync(join(dir, "t10k-labels-idx1-ubyte.gz"), gzipSync(labels(3)));
    await expect(loadMnistLike(dir)).rejects.toThrow(/test: 2 images but 3 labels/);
    await expect(loadMnistLike(join(dir, "nowhere"))).rejects.toThrow(/cannot read train-images-idx3-ubyte\[\.gz\]/);
  });
});

describe("embedded Fashion-MNIST subset", () => {
  it("loads 7000 + 1500 class-balanced 28x28 images", async () => {
    const d = await loadEmbedded();
    expect([d.train.count, d.train.height, d.train.width, d.test.count, d.test.height, d.test.width]).toEqual([7000, 28, 28, 1500, 28, 28]);
    for (const [set, per] of [
      [d.train, 700],
      [d.test, 150],
    ] as const) {
      const counts = new Array(10).fill(0);
      for (const y of set.labels) counts[y]++;
      expect(counts).toEqual(new Array(10).fill(per));
      let sum = 0;
      for (const p of set.images) sum += p;
      const mean = sum / set.images.length / 255;
      expect(Math.abs(mean - FASHION_MNIST_STATS.mean)).toBeLessThan(0.02); // real images, not noise or zeros
    }
  });

  it.runIf(existsSync(join(DEBIAN, "train-images-idx3-ubyte.gz")))("is the documented subset of Debian's Fashion-MNIST", async () => {
    const d = await loadEmbedded();
    const src = gunzipSync(readFileSync(join(DEBIAN, "t10k-images-idx3-ubyte.gz"))).subarray(16);
    const srcLabels = gunzipSync(readFileSync(join(DEBIAN, "t10k-labels-idx1-ubyte.gz"))).subarray(8);
    // First 150 of each class in file order.
    const taken = new Array(10).fill(0);
    let k = 0;
    for (let i = 0; k < 1500; i++) {
      if (taken[srcLabels[i]!]++ >= 150) continue;
      expect(d.test.labels[k]).toBe(srcLabels[i]);
      if (k % 97 === 0) expect(Buffer.from(d.test.images.subarray(k * 784, (k + 1) * 784)).equals(src.subarray(i * 784, (i + 1) * 784))).toBe(true);
      k++;
    }
  });

  it("loadEmbedded accepts an explicit directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "emb-"));
    for (const f of ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]) {
      copyFileSync(new URL(`../data/${f}`, import.meta.url), join(dir, f));
    }
    expect((await loadEmbedded(dir)).test.count).toBe(1500);
  });
});

describe("mini-batches", () => {
  const set: LabeledImages = {
    count: 10,
    height: 2,
    width: 2,
    images: Uint8Array.from({ length: 40 }, (_, i) => (i * 37) % 256),
    labels: Uint8Array.from({ length: 10 }, (_, i) => (i * 3) % 10),
  };

  it("an epoch visits every item once, in a seeded order, with images normalised NHWC", () => {
    const all = [...batches(set, { batchSize: 4, seed: 5 })];
    expect(all.map((b) => b.shape)).toEqual([
      [4, 2, 2, 1],
      [4, 2, 2, 1],
      [2, 2, 2, 1],
    ]);
    expect(all.length).toBe(batchCount(10, 4));
    const seen = all.flatMap((b) => Array.from(b.indices));
    expect([...seen].sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
    expect(seen).not.toEqual([...Array(10).keys()]); // shuffled
    expect([...batches(set, { batchSize: 4, seed: 5 })].flatMap((b) => Array.from(b.indices))).toEqual(seen); // deterministic
    expect([...batches(set, { batchSize: 4, seed: 6 })].flatMap((b) => Array.from(b.indices))).not.toEqual(seen);
    for (const b of all) {
      expect(b.labels).toBeInstanceOf(Int32Array);
      b.indices.forEach((i, k) => {
        expect(b.labels[k]).toBe(set.labels[i]);
        for (let p = 0; p < 4; p++) expect(b.images[k * 4 + p]).toBeCloseTo(set.images[i * 4 + p]! / 255, 7);
      });
    }
  });

  it("supports dropLast, no shuffle and mean/std normalisation", () => {
    const all = [...batches(set, { batchSize: 4, dropLast: true, shuffle: false, normalize: { mean: 0.5, std: 0.25 } })];
    expect(all.length).toBe(2);
    expect(batchCount(10, 4, true)).toBe(2);
    expect(Array.from(all[1]!.indices)).toEqual([4, 5, 6, 7]);
    expect(all[0]!.images[5]).toBeCloseTo((set.images[5]! / 255 - 0.5) / 0.25, 5);
    const x = toFloatImages(set);
    expect(x.length).toBe(40);
    expect(x[39]).toBeCloseTo(set.images[39]! / 255, 7);
    expect(Math.min(...x)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...x)).toBeLessThanOrEqual(1);
  });

  it("shuffledIndices is a permutation; bad options throw", () => {
    const p = shuffledIndices(1000, 1);
    expect(new Set(p).size).toBe(1000);
    expect(() => [...batches(set, { batchSize: 0 })]).toThrow(/batchSize must be an integer >= 1/);
    expect(() => [...batches(set, { batchSize: 2, normalize: { mean: 0, std: 0 } })]).toThrow(/std > 0/);
    expect(() => toFloatImages(set, "unit", [10])).toThrow(/index 10 is out of range/);
    expect(() => toFloatImages(set, "unit", undefined, new Float32Array(3))).toThrow(/out has 3 elements, need 40/);
  });
});

describe("learning from the embedded data", () => {
  it("softmax regression with Adam learns Fashion-MNIST (well above chance after one epoch)", async () => {
    const e = await engineFor("simd");
    const { train, test } = await loadEmbedded();
    const w = e.zeros([784, 10]),
      b = e.zeros([10]);
    const params: Param[] = [
      { value: w, grad: e.zeros([784, 10]) },
      { value: b, grad: e.zeros([10]) },
    ];
    const opt = new Adam({ lr: 0.01 });
    for (const batch of batches(train, { batchSize: 64, seed: 1 })) {
      e.tidy(() => {
        zeroGrads(params);
        const x = e.tensor(batch.shape, batch.images),
          labels = e.ints([batch.labels.length], batch.labels);
        const { probs } = softmaxCrossEntropy(dense(x, w, b), labels);
        denseBackward(softmaxCrossEntropyBackward(probs, labels), x, w, { dw: params[0]!.grad, db: params[1]!.grad });
        opt.step(params);
      });
    }
    const acc = e.tidy(() => {
      const logits = dense(e.tensor([test.count, 28, 28, 1], toFloatImages(test)), w, b).data;
      let right = 0;
      for (let i = 0; i < test.count; i++) {
        let best = 0;
        for (let c = 1; c < 10; c++) if (logits[i * 10 + c]! > logits[i * 10 + best]!) best = c;
        if (best === test.labels[i]) right++;
      }
      return right / test.count;
    });
    expect(acc).toBeGreaterThan(0.7); // chance is 0.1; linear models reach ~0.84 on full Fashion-MNIST
    opt.dispose();
    for (const p of params) p.value.dispose(), p.grad.dispose();
  });
});
