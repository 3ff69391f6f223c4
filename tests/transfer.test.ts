// Folders of images and transfer learning: PNG / JPEG decoding and resizing, the class-per-folder
// reader, transferModel + freezeUntil, and `simdnet train --data photos/ --init ... --freeze-until`
// on a small generated folder: the frozen layers come out bitwise unchanged, the head is new, and
// the accuracy rises.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encode as encodePng } from "fast-png";
import { encode as encodeJpeg } from "jpeg-js";
import { describe, expect, it } from "vitest";
import {
  createModel,
  decodeImage,
  decodeSafetensors,
  exportOnnx,
  fit,
  freezeUntil,
  importOnnxModel,
  loadImageFolder,
  resizeImage,
  resnet18,
  SGD,
  saveWeights,
  transferModel,
} from "../src/index.js";
import { engineFor, rng } from "./harness.js";

const root = join(import.meta.dirname, "..");

/** Bitwise equality of two float arrays (fast on millions of values, unlike a deep toEqual). */
const sameBits = (a: ArrayLike<number>, b: ArrayLike<number> | undefined): boolean => {
  if (!b || a.length !== b.length) return false;
  const x = new Uint32Array(Float32Array.from(a).buffer),
    y = new Uint32Array(Float32Array.from(b).buffer);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
};
const COLOURS = { blue: 2, green: 1, red: 0 } as const;

/** An RGB image of one dominant colour with noise, w x h. */
function photo(channel: number, w: number, h: number, seed: number): Uint8Array {
  const r = rng(seed),
    data = new Uint8Array(w * h * 3);
  for (let p = 0; p < w * h; p++) for (let c = 0; c < 3; c++) data[p * 3 + c] = Math.floor((c === channel ? 150 : 20) + 100 * r());
  return data;
}

/** photos/<colour>/*: PNG (RGB, and one RGBA) and JPEG files of assorted sizes. */
function makeFolder(perClass: number): string {
  const dir = mkdtempSync(join(tmpdir(), "simdnet-photos-"));
  for (const [name, channel] of Object.entries(COLOURS)) {
    mkdirSync(join(dir, name, "more"), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const w = 20 + 4 * (i % 3),
        h = 24 + 2 * (i % 2),
        data = photo(channel, w, h, channel * 100 + i);
      if (i % 3 === 0) writeFileSync(join(dir, name, `${i}.jpg`), encodeJpeg({ width: w, height: h, data: rgba(data) }, 95).data);
      else if (i === 1) writeFileSync(join(dir, name, "more", `${i}.png`), encodePng({ width: w, height: h, channels: 4, depth: 8, data: rgba(data) }));
      else writeFileSync(join(dir, name, `${i}.png`), encodePng({ width: w, height: h, channels: 3, depth: 8, data }));
    }
    writeFileSync(join(dir, name, "notes.txt"), "not an image");
  }
  return dir;
}

const rgba = (rgb: Uint8Array) => {
  const out = new Uint8Array((rgb.length / 3) * 4).fill(255);
  for (let p = 0; p < rgb.length / 3; p++) out.set(rgb.subarray(p * 3, p * 3 + 3), p * 4);
  return out;
};

describe("image files", () => {
  it("decodes PNG (grey, RGB, RGBA, 16-bit) and JPEG; resizes and converts channels", () => {
    const rgb = photo(0, 6, 4, 1);
    const png = decodeImage(encodePng({ width: 6, height: 4, channels: 3, depth: 8, data: rgb }));
    expect(png).toMatchObject({ width: 6, height: 4, channels: 3 });
    expect(Array.from(png.data)).toEqual(Array.from(rgb));
    const wide = decodeImage(encodePng({ width: 2, height: 1, channels: 1, depth: 16, data: new Uint16Array([0x1234, 0xff00]) }));
    expect(Array.from(wide.data)).toEqual([0x12, 0xff]);
    const jpg = decodeImage(new Uint8Array(encodeJpeg({ width: 6, height: 4, data: rgba(rgb) }, 100).data));
    expect(jpg).toMatchObject({ width: 6, height: 4, channels: 3 });
    for (let i = 0; i < rgb.length; i++) expect(Math.abs(jpg.data[i]! - rgb[i]!)).toBeLessThan(40);
    expect(() => decodeImage(new Uint8Array([1, 2, 3, 4]), "x.bin")).toThrow("decodeImage: x.bin is neither PNG nor JPEG");
    expect(() => decodeImage(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]), "cut.png")).toThrow(/cut.png is not a readable PNG/);

    const flat = { data: new Uint8Array(10 * 8 * 3).fill(77), width: 10, height: 8, channels: 3 };
    expect(resizeImage(flat, 3, 5, 3).data.every((v) => v === 77)).toBe(true);
    expect(resizeImage(flat, 3, 5, 1).data.every((v) => v === 77)).toBe(true);
    // a horizontal ramp stays a ramp (monotone) when shrunk by 4 and grown by 2
    const ramp = { data: Uint8Array.from({ length: 16 * 4 }, (_, i) => (i % 16) * 16), width: 16, height: 4, channels: 1 };
    for (const w of [4, 32]) {
      const row = Array.from(resizeImage(ramp, 2, w, 1).data.subarray(0, w));
      expect(row).toEqual([...row].sort((a, b) => a - b));
      expect(row[0]!).toBeLessThan(row[w - 1]!);
    }
    const grey = resizeImage({ data: new Uint8Array([10, 200]), width: 1, height: 1, channels: 2 }, 1, 1, 3);
    expect(Array.from(grey.data)).toEqual([10, 10, 10]);
  });

  it("reads a class-per-folder tree: classes by folder name, files at any depth, resized", async () => {
    const dir = makeFolder(4);
    const set = await loadImageFolder(dir, { size: 16 });
    expect(set.classes).toEqual(["blue", "green", "red"]);
    expect(set.shape).toEqual([12, 16, 16, 3]);
    expect(set.files).toContain("red/more/1.png");
    expect(set.files.filter((f) => f.endsWith(".jpg"))).toHaveLength(6);
    // the dominant channel survives decoding and resizing
    for (let i = 0; i < 12; i++) {
      const px = set.x.subarray(i * 768 + 8 * 48 + 24, i * 768 + 8 * 48 + 27);
      const dominant = [0, 1, 2].reduce((a, b) => (px[b]! > px[a]! ? b : a));
      expect(dominant, set.files[i]).toBe(COLOURS[set.classes[set.labels[i]!] as keyof typeof COLOURS]);
    }
    writeFileSync(join(dir, "red", "broken.png"), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5]));
    await expect(loadImageFolder(dir, { size: 16 })).rejects.toThrow(/red\/broken.png is not a readable PNG/);
    await expect(loadImageFolder(join(dir, "red"), { size: 16 })).rejects.toThrow(/needs at least two class folders/);
  });
});

describe("transfer learning", () => {
  it("transferModel keeps every weight but the head, freezeUntil keeps the frozen ones bitwise through fit", async () => {
    const e = await engineFor("simd");
    const source = createModel(e, resnet18({ classes: 10, inputSize: 32 }), { seed: 1 });
    const model = transferModel(source, { classes: 3, freezeUntil: "layer4.0/out", seed: 2 });
    const before = new Map([...model.stateDict()].map(([n, t]) => [n, t.toArray()]));
    for (const [name, t] of source.stateDict()) {
      if (name.startsWith("fc.")) expect(model.stateDict().get(name)!.shape).toEqual(name === "fc.weight" ? [512, 3] : [3]);
      else expect(sameBits(before.get(name)!, t.toArray()), name).toBe(true);
    }
    source.dispose();
    const frozen = new Set(
      model
        .parameters()
        .filter((p) => p.frozen)
        .map((p) => p.name),
    );
    expect(frozen.has("conv1.weight") && frozen.has("layer4.0/conv2_bn.weight")).toBe(true);
    expect(frozen.has("layer4.1/conv1.weight") || frozen.has("fc.weight")).toBe(false);
    const r = rng(3),
      x = Float32Array.from({ length: 8 * 32 * 32 * 3 }, () => r()),
      labels = [0, 1, 2, 0, 1, 2, 0, 1];
    fit(model, { x, labels }, { epochs: 2, batchSize: 4, optimizer: new SGD({ lr: 0.05, momentum: 0.9 }) });
    let changed = 0;
    for (const [name, t] of model.stateDict()) {
      const layer = name.slice(0, name.lastIndexOf("."));
      if (frozen.has(`${layer}.weight`) || frozen.has(name)) expect(sameBits(t.toArray(), before.get(name)), name).toBe(true);
      else if (t.toArray().some((v, i) => v !== before.get(name)![i])) changed++;
    }
    expect(changed).toBeGreaterThan(4);
    expect(() => freezeUntil(model, "nope")).toThrow(/no layer named 'nope'/);
    model.dispose();
  });

  const cli = (...args: string[]) => spawnSync(process.execPath, ["dist/cli.js", ...args], { encoding: "utf8", cwd: root });
  const accuracies = (out: string, which: string) => [...out.matchAll(new RegExp(`${which} accuracy ([\\d.]+)%`, "g"))].map((m) => Number(m[1]));

  it.each(["safetensors", "onnx"])(
    "simdnet train --model resnet18 --data photos/ --init model.%s --freeze-until ...",
    async (format) => {
      const e = await engineFor("simd");
      const dir = makeFolder(10),
        work = mkdtempSync(join(tmpdir(), "simdnet-transfer-"));
      const trained = createModel(e, resnet18({ classes: 10, inputSize: 32 }), { seed: 1 });
      const init = join(work, `init.${format}`),
        out = join(work, "out.safetensors");
      writeFileSync(init, format === "onnx" ? exportOnnx(trained) : saveWeights(trained));
      trained.dispose();
      // the initial weights as the command sees them (ONNX: imported under the file's node names)
      const source =
        format === "onnx" ? importOnnxModel(e, new Uint8Array(readFileSync(init))) : createModel(e, resnet18({ classes: 10, inputSize: 32 }), { seed: 1 });
      const names = source.graph.nodes.map((n) => n.name);
      const until = format === "onnx" ? names[names.findIndex((n) => /layer4/.test(n)) - 1]! : "layer4.0/out";
      const initial = new Map([...source.stateDict()].map(([n, t]) => [n, t.toArray()]));
      const frozenLayers = new Set(names.slice(0, names.indexOf(until) + 1));
      source.dispose();

      const r = cli(
        "train",
        "--model",
        "resnet18",
        "--data",
        dir,
        "--init",
        init,
        "--freeze-until",
        until,
        "--epochs",
        "3",
        "--input-size",
        "32",
        "--batch",
        "8",
        "--lr",
        "0.003",
        "--out",
        out,
      );
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain("30 images in 3 classes (blue, green, red), resized to 32x32x3");
      const training = accuracies(r.stdout, "training"),
        validation = accuracies(r.stdout, "validation");
      expect(training).toHaveLength(3);
      expect(training[2]!).toBeGreaterThan(training[0]!);
      expect(validation[2]!).toBeGreaterThanOrEqual(validation[0]!);
      expect(validation[2]!).toBeGreaterThan(40); // 3 classes: chance is 33%

      const saved = decodeSafetensors(readFileSync(out));
      expect(JSON.parse(saved.metadata.classes!)).toEqual(["blue", "green", "red"]);
      let frozenCount = 0;
      for (const [name, t] of Object.entries(saved.tensors)) {
        const layer = name.slice(0, name.lastIndexOf("."));
        if (!frozenLayers.has(layer)) continue;
        frozenCount++;
        expect(sameBits(t.data, initial.get(name)), name).toBe(true);
      }
      expect(frozenCount).toBeGreaterThan(50);
      const head = Object.entries(saved.tensors).filter(([, t]) => t.shape.length === 2 && t.shape[1] === 3);
      expect(head).toHaveLength(1);
    },
    120_000,
  );
});
