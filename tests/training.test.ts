// The training loop, model weights files and the command line, end to end on small data.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encode as encodePng } from "fast-png";
import { createModel, encodeIdx, evaluate, fit, lenet5, loadEmbedded, loadWeights, saveWeights, SGD, SimdnetError, type LabeledImages } from "../src/index.js";
import { engineFor } from "./harness.js";

const embedded = await loadEmbedded();
const subset = (set: LabeledImages, count: number): LabeledImages => ({
  ...set,
  count,
  images: set.images.subarray(0, count * set.height * set.width),
  labels: set.labels.subarray(0, count),
});

describe("fit and evaluate", () => {
  it("training LeNet-5 on 1,024 embedded images lowers the loss and beats chance on the test set", async () => {
    const e = await engineFor("simd");
    const model = createModel(e, lenet5(), { seed: 3 });
    const optimizer = new SGD({ lr: 0.05, momentum: 0.9 });
    const history = fit(model, subset(embedded.train, 1024), { epochs: 3, batchSize: 32, optimizer, seed: 1 });
    expect(history).toHaveLength(3);
    expect(history[2]!.loss).toBeLessThan(history[0]!.loss * 0.8);
    const result = evaluate(model, subset(embedded.test, 250), { batchSize: 64 }); // 250 = 3 full batches + a padded one
    expect(result.predictions).toHaveLength(250);
    expect(result.accuracy).toBeGreaterThan(0.5); // chance is 0.1
    expect(Number.isFinite(result.loss)).toBe(true);
    model.dispose();
  });

  it("stops with an error naming epoch and step when the loss diverges", async () => {
    const e = await engineFor("simd");
    const model = createModel(e, lenet5(), { seed: 3 });
    const optimizer = new SGD({ lr: 1e6 });
    expect(() => fit(model, subset(embedded.train, 256), { epochs: 2, batchSize: 32, optimizer })).toThrow(
      /fit: the loss became (NaN|Infinity|-Infinity) at epoch \d, step \d+/,
    );
    model.dispose();
  });

  it("rejects bad options", async () => {
    const e = await engineFor("scalar");
    const model = createModel(e, lenet5());
    const optimizer = new SGD({ lr: 0.1 });
    expect(() => fit(model, subset(embedded.train, 10), { epochs: 1, batchSize: 32, optimizer })).toThrow("fewer than one batch of 32");
    expect(() => fit(model, embedded.train, { epochs: 0, batchSize: 32, optimizer })).toThrow("epochs must be an integer >= 1");
    model.dispose();
  });
});

describe("model weights as safetensors", () => {
  it("round-trips every parameter bit for bit", async () => {
    const e = await engineFor("simd");
    const a = createModel(e, lenet5(), { seed: 1 }),
      b = createModel(e, lenet5(), { seed: 2 });
    const meta = loadWeights(b, saveWeights(a, { note: "x" }));
    expect(meta).toMatchObject({ format: "simdnet", note: "x" });
    for (const [name, t] of a.stateDict()) expect(b.stateDict().get(name)!.toArray(), name).toEqual(t.toArray());
    a.dispose();
    b.dispose();
  });

  it("leaves the model unchanged on a truncated file, a wrong shape or a non-finite value", async () => {
    const e = await engineFor("simd");
    const source = createModel(e, lenet5(), { seed: 1 }),
      target = createModel(e, lenet5(), { seed: 2 });
    const before = [...target.stateDict()].map(([n, t]) => [n, t.toArray()] as const);
    const bytes = saveWeights(source);
    for (const cut of [0, 7, 8, 100, bytes.length >> 1, bytes.length - 1]) {
      expect(() => loadWeights(target, bytes.subarray(0, cut))).toThrow(SimdnetError);
    }
    const other = createModel(e, lenet5({ classes: 5 }), { seed: 1 });
    expect(() => loadWeights(target, saveWeights(other))).toThrow(/"dense3.weight" has shape \[84,5\] in the file but \[84,10\]/);
    const nan = createModel(e, lenet5(), { seed: 1 });
    nan.stateDict().get("conv1.weight")!.data[3] = NaN;
    expect(() => loadWeights(target, saveWeights(nan))).toThrow(/"conv1.weight" holds a non-finite value \(NaN\) at element 3/);
    for (const [n, values] of before) expect(target.stateDict().get(n)!.toArray(), n).toEqual(values);
    for (const m of [source, target, other, nan]) m.dispose();
  });
});

describe("the simdnet command line", () => {
  const dir = mkdtempSync(join(tmpdir(), "simdnet-cli-"));
  const cli = (...args: string[]) => spawnSync(process.execPath, ["dist/cli.js", ...args], { encoding: "utf8", cwd: join(import.meta.dirname, "..") });

  it("trains, saves weights, and predicts from IDX and PNG files", () => {
    const weights = join(dir, "w.safetensors");
    const train = cli("train", "--epochs", "1", "--limit", "640", "--batch", "32", "--out", weights);
    expect(train.status, train.stderr).toBe(0);
    expect(train.stdout).toMatch(/epoch 1\/1: loss [\d.]+, training accuracy [\d.]+%/);
    expect(train.stdout).toMatch(/test accuracy [\d.]+% on 1,500 test images/);
    expect(readFileSync(weights).length).toBeGreaterThan(61706 * 4);

    // three test images as an IDX file with labels, and as PNG files
    const { test } = embedded;
    const pixels = test.height * test.width;
    const images = join(dir, "images.idx"),
      labels = join(dir, "labels.idx");
    writeFileSync(images, encodeIdx([3, test.height, test.width], test.images.slice(0, 3 * pixels)));
    writeFileSync(labels, encodeIdx([3], test.labels.slice(0, 3)));
    const fromIdx = cli("predict", "--weights", weights, images, "--labels", labels);
    expect(fromIdx.status, fromIdx.stderr).toBe(0);
    expect(fromIdx.stdout.trim().split("\n")).toHaveLength(4); // 3 predictions + accuracy
    const twoLabels = join(dir, "two-labels.idx");
    writeFileSync(twoLabels, encodeIdx([2], test.labels.slice(0, 2)));
    const fewer = cli("predict", "--weights", weights, images, "--labels", twoLabels);
    expect(fewer.status).not.toBe(0);
    expect(fewer.stderr).toContain("has 2 labels for 3 images");
    const pngs = [0, 1, 2].map((i) => {
      const f = join(dir, `img${i}.png`);
      writeFileSync(f, encodePng({ width: test.width, height: test.height, channels: 1, depth: 8, data: test.images.slice(i * pixels, (i + 1) * pixels) }));
      return f;
    });
    const fromPng = cli("predict", "--weights", weights, ...pngs);
    expect(fromPng.status, fromPng.stderr).toBe(0);
    // the same images give the same classes either way
    const classes = (out: string) =>
      out
        .trim()
        .split("\n")
        .slice(0, 3)
        .map((l) => l.split(": ")[1]!.split(" ")[0]);
    expect(classes(fromPng.stdout)).toEqual(classes(fromIdx.stdout));
  });

  it("prints the accounting table and rejects unknown models and flags", () => {
    const s = cli("summary", "vgg16");
    expect(s.status).toBe(0);
    expect(s.stdout).toContain("138,357,544");
    expect(s.stdout).toContain("15,237,608");
    expect(cli("summary", "nonet").stderr).toContain("unknown model 'nonet'");
    expect(cli("train", "--epoch", "2").status).toBe(1);
    expect(cli("predict").stderr).toContain("predict needs --weights");
  });
});
