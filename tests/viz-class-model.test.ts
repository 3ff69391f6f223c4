// Class models of a trained LeNet-5 (regularised gradient ascent, Yosinski et al. 2015): every
// class's image is finite, not constant, smooth (neighbouring pixels correlate, unlike the noise or
// the black squares the plain ascent gave), raises its class score and is classified as its class.
import { beforeAll, describe, expect, it } from "vitest";
import * as nn from "../src/index.js";
import { classModel, hwcToImage } from "../src/viz/index.js";

/** Lag-1 autocorrelation of a centred H x W image over horizontal and vertical neighbours. */
function neighbourCorrelation(img: Float32Array, h: number, w: number): number {
  const mean = img.reduce((a, b) => a + b, 0) / img.length;
  let num = 0,
    den = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = img[y * w + x]! - mean;
      den += v * v;
      if (x + 1 < w) num += v * (img[y * w + x + 1]! - mean);
      if (y + 1 < h) num += v * (img[(y + 1) * w + x]! - mean);
    }
  }
  return num / (2 * den);
}

describe("class models of a trained LeNet-5", () => {
  let model: nn.Model;
  beforeAll(async () => {
    const e = await nn.init({ build: "simd" });
    const data = await nn.loadEmbedded();
    model = nn.createModel(e, nn.lenet5(), { seed: 1, batch: 64 });
    nn.fit(model, data.train, { epochs: 2, batchSize: 64, optimizer: new nn.Adam({ lr: 2e-3 }), seed: 1 });
  }, 300_000);

  it("each class's image is finite, not constant, smooth, raises its score and is classified as its class", { timeout: 300_000 }, () => {
    const report: string[] = [];
    for (let k = 0; k < 10; k++) {
      const r = classModel(model, k, { steps: 150, range: [0, 1] });
      const img = r.image;
      expect(img.every(Number.isFinite), `class ${k}: finite`).toBe(true);
      const lo = Math.min(...img),
        hi = Math.max(...img);
      expect(hi - lo, `class ${k}: not constant`).toBeGreaterThan(1e-3 * Math.max(Math.abs(lo), Math.abs(hi)));
      const png = hwcToImage(img, 28, 28, 1);
      expect(new Set(png.data).size, `class ${k}: the rendered image is not one grey`).toBeGreaterThan(10);
      expect(r.scores.at(-1)!, `class ${k}: raises the score`).toBeGreaterThan(r.scores[0]! + 1);
      model.plan(1);
      const scores = model.forward(img).data;
      expect(scores.indexOf(Math.max(...scores)), `class ${k}: classified as its class`).toBe(k);
      const corr = neighbourCorrelation(img, 28, 28);
      report.push(`${k}: score ${r.scores[0]!.toFixed(2)} -> ${r.scores.at(-1)!.toFixed(2)}, neighbour correlation ${corr.toFixed(2)}`);
      expect(corr, `class ${k}: smooth`).toBeGreaterThan(0.5);
    }
    console.log(report.join("\n"));
  });

  it("the regularised ascent without a range, and the plain ascent (noise, as the literature says)", () => {
    const free = classModel(model, 7, { steps: 150 });
    expect(free.image.every(Number.isFinite)).toBe(true);
    expect(free.scores.at(-1)!).toBeGreaterThan(free.scores[0]! + 1);
    expect(neighbourCorrelation(free.image, 28, 28)).toBeGreaterThan(0.5);
    const r = classModel(model, 3, { regularize: false, steps: 150 });
    expect(r.scores.at(-1)!).toBeGreaterThanOrEqual(r.scores[0]!);
    const corr = neighbourCorrelation(r.image, 28, 28);
    expect(corr, "pixel noise, as the deep-visualisation literature describes").toBeLessThan(0.5);
  });
});
