// Visualisations: saliency and guided backprop against a float64 hand-written reference of a small
// conv net, class models against the closed-form optimum of a linear model, CNN codes, nearest
// neighbours, t-SNE on clustered toy data, image grids and PNG round trips, errors.
import { decode } from "fast-png";
import { describe, expect, it } from "vitest";
import * as nn from "../src/index.js";
import type { Engine, Model } from "../src/index.js";
import {
  activationGrid,
  classModel,
  computeCodes,
  encodePng,
  filterGrid,
  guidedBackprop,
  hwcToImage,
  imageGrid,
  mapToImage,
  nearestNeighbours,
  neighbourGrid,
  saliency,
  scatterImage,
  tsne,
  tsneAffinities,
  tsneKl,
} from "../src/viz/index.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, rng, uniform } from "./harness.js";

// The small net: conv 3x3 pad 1 (F filters) -> ReLU -> flatten -> dense K, on H x W x C images.
const H = 5,
  W = 4,
  C = 3,
  F = 4,
  K = 3;

interface Params {
  cw: Float32Array; // [3, 3, C, F]
  cb: Float32Array; // [F]
  dw: Float32Array; // [H*W*F, K]
  db: Float32Array; // [K]
}

function makeParams(seed: number): Params {
  return {
    cw: uniform(9 * C * F, seed, -0.5, 0.5),
    cb: uniform(F, seed + 1, -0.2, 0.2),
    dw: uniform(H * W * F * K, seed + 2, -0.5, 0.5),
    db: uniform(K, seed + 3),
  };
}

function buildNet(e: Engine, p: Params, reluLayer: boolean): Model {
  const layers = reluLayer
    ? [{ type: "conv", filters: F, size: 3, pad: 1 }, { type: "relu" }, { type: "flatten" }, { type: "dense", units: K }]
    : [{ type: "conv", filters: F, size: 3, pad: 1, activation: "relu" }, { type: "flatten" }, { type: "dense", units: K }];
  return nn.createModel(e, { inputShape: [H, W, C], layers } as nn.SequentialSpec, {
    initialParams: { "conv1.weight": p.cw, "conv1.bias": p.cb, "dense1.weight": p.dw, "dense1.bias": p.db },
  });
}

/** float64 pre-activations [H, W, F] of the conv for one image. */
function convPre(x: ArrayLike<number>, p: Params): Float64Array {
  const pre = new Float64Array(H * W * F);
  for (let h = 0; h < H; h++)
    for (let w = 0; w < W; w++)
      for (let f = 0; f < F; f++) {
        let s = p.cb[f]!;
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 3; j++) {
            const y = h + i - 1,
              xx = w + j - 1;
            if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
            for (let c = 0; c < C; c++) s += x[(y * W + xx) * C + c]! * p.cw[((i * 3 + j) * C + c) * F + f]!;
          }
        pre[(h * W + w) * F + f] = s;
      }
  return pre;
}

/** Gradient of the class-k score w.r.t. the image, by hand in float64; guided: ReLU passes only positive gradients. */
function referenceGradient(x: ArrayLike<number>, p: Params, k: number, guided: boolean): Float64Array {
  const pre = convPre(x, p);
  const gx = new Float64Array(H * W * C);
  for (let h = 0; h < H; h++)
    for (let w = 0; w < W; w++)
      for (let f = 0; f < F; f++) {
        const o = (h * W + w) * F + f;
        const gPost = p.dw[o * K + k]!;
        if (!(pre[o]! > 0) || (guided && !(gPost > 0))) continue;
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 3; j++) {
            const y = h + i - 1,
              xx = w + j - 1;
            if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
            for (let c = 0; c < C; c++) gx[(y * W + xx) * C + c] = gx[(y * W + xx) * C + c]! + gPost * p.cw[((i * 3 + j) * C + c) * F + f]!;
          }
      }
  return gx;
}

function referenceScores(x: ArrayLike<number>, p: Params): Float64Array {
  const pre = convPre(x, p);
  const s = Float64Array.from(p.db);
  for (let o = 0; o < H * W * F; o++) for (let k = 0; k < K; k++) s[k] = s[k]! + Math.max(0, pre[o]!) * p.dw[o * K + k]!;
  return s;
}

describe.each(BUILDS_UNDER_TEST)("viz (%s build)", (build) => {
  describe.each([false, true])("gradients, stand-alone ReLU layer: %s", (reluLayer) => {
    it("saliency is the input gradient of the class score (two images, two classes), map = max over channels of |g|", async () => {
      const e = await engineFor(build);
      const p = makeParams(11);
      const m = buildNet(e, p, reluLayer);
      const x = uniform(2 * H * W * C, 5, -1, 1);
      const ks = [2, 0];
      const r = saliency(m, x, ks);
      expect([r.count, r.height, r.width, r.channels]).toEqual([2, H, W, C]);
      for (let n = 0; n < 2; n++) {
        const img = x.subarray(n * H * W * C, (n + 1) * H * W * C);
        expectClose(r.scores.subarray(n * K, (n + 1) * K), referenceScores(img, p), { rtol: 1e-4, atol: 1e-5, label: "scores" });
        const g = referenceGradient(img, p, ks[n]!, false);
        expectClose(r.gradient.subarray(n * H * W * C, (n + 1) * H * W * C), g, { rtol: 1e-4, atol: 1e-5, label: `gradient ${n}` });
        const map = Array.from({ length: H * W }, (_, q) => Math.max(...[0, 1, 2].map((c) => Math.abs(g[q * C + c]!))));
        expectClose(r.map.subarray(n * H * W, (n + 1) * H * W), map, { rtol: 1e-4, atol: 1e-5, label: `map ${n}` });
      }
      // parameter gradients are left zeroed
      for (const q of m.parameters()) expect(q.grad.data.every((v) => v === 0)).toBe(true);
      m.dispose();
    });

    it("guided backprop from a class score passes only positive gradients through the ReLU; plain backward is unchanged", async () => {
      const e = await engineFor(build);
      const p = makeParams(23);
      const m = buildNet(e, p, reluLayer);
      const x = uniform(H * W * C, 9, -1, 1);
      const g = guidedBackprop(m, x, { channel: 1 });
      expect(g.neuron.channel).toBe(1);
      const ref = referenceGradient(x, p, 1, true);
      expectClose(g.gradient, ref, { rtol: 1e-4, atol: 1e-5, label: "guided" });
      const plain = referenceGradient(x, p, 1, false);
      expect(Math.max(...ref.map((v, i) => Math.abs(v - plain[i]!)))).toBeGreaterThan(1e-3); // guided differs here
      // the default backward (no guided flag) still gives the true gradient
      expectClose(saliency(m, x, 1).gradient, plain, { rtol: 1e-4, atol: 1e-5, label: "plain after guided" });
      m.dispose();
    });

    it("guided backprop from one conv neuron is its filter placed over its receptive field", async () => {
      const e = await engineFor(build);
      const p = makeParams(31);
      const m = buildNet(e, p, reluLayer);
      const x = uniform(H * W * C, 3, 0, 1);
      const layer = reluLayer ? "relu1" : "conv1";
      const ch = 2;
      const g = guidedBackprop(m, x, { layer, channel: ch });
      const pre = convPre(x, p);
      let best = 0;
      for (let q = 0; q < H * W; q++) if (pre[q * F + ch]! > pre[best * F + ch]!) best = q;
      expect(g.neuron.index).toBe(best * F + ch);
      expect(g.neuron.value).toBeCloseTo(Math.max(0, pre[best * F + ch]!), 4);
      const ref = new Float64Array(H * W * C);
      const [r0, c0] = [Math.floor(best / W), best % W];
      if (pre[best * F + ch]! > 0) {
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 3; j++)
            for (let c = 0; c < C; c++) {
              const y = r0 + i - 1,
                xx = c0 + j - 1;
              if (y >= 0 && y < H && xx >= 0 && xx < W) ref[(y * W + xx) * C + c] = p.cw[((i * 3 + j) * C + c) * F + ch]!;
            }
      }
      expectClose(g.gradient, ref, { rtol: 1e-5, atol: 1e-6, label: "neuron" });
      // an explicit position picks that neuron
      const at = guidedBackprop(m, x, { layer, channel: ch, position: [0, 0] });
      expect(at.neuron.index).toBe(ch);
      m.dispose();
    });
  });

  it("plain class-model gradient ascent raises the class score; on a linear model it reaches the optimum w_k / (2 l2)", async () => {
    const e = await engineFor(build);
    const m = buildNet(e, makeParams(41), false);
    const r = classModel(m, 2, { steps: 25, lr: 0.05, l2: 0.01, regularize: false });
    expect(r.scores).toHaveLength(26);
    expect(r.scores[25]!).toBeGreaterThan(r.scores[0]! + 1);
    m.dispose();

    const wd = uniform(H * W * C * K, 43);
    const lin = nn.createModel(
      e,
      { inputShape: [H, W, C], layers: [{ type: "flatten" }, { type: "dense", units: K }] },
      {
        initialParams: { "dense1.weight": wd, "dense1.bias": new Float32Array(K) },
      },
    );
    const l2 = 0.25;
    const res = classModel(lin, 1, { steps: 40, lr: 1, l2, regularize: false });
    const optimum = Array.from({ length: H * W * C }, (_, i) => wd[i * K + 1]! / (2 * l2));
    expectClose(res.image, optimum, { rtol: 1e-4, atol: 1e-5, label: "linear optimum" });
    for (let s = 1; s < res.scores.length; s++) expect(res.scores[s]!).toBeGreaterThanOrEqual(res.scores[s - 1]! - 1e-4);
    lin.dispose();
  });

  it("codes: penultimate layer per image, batched with a padded last batch", async () => {
    const e = await engineFor(build);
    const m = nn.createModel(e, {
      inputShape: [6, 6, 1],
      layers: [
        { type: "conv", filters: 3, size: 3, activation: "relu" },
        { type: "flatten" },
        { type: "dense", units: 7, activation: "relu" },
        { type: "dense", units: 4 },
      ],
    });
    expect(m.codeLayer).toBe("dense1");
    const x = uniform(5 * 36, 17, 0, 1);
    const { codes, count, dim } = computeCodes(m, x, { batchSize: 2 });
    expect([count, dim]).toEqual([5, 7]);
    m.plan(1);
    for (let i = 0; i < 5; i++) {
      m.forward(x.subarray(i * 36, (i + 1) * 36));
      expectClose(codes.subarray(i * 7, (i + 1) * 7), m.code().data, { rtol: 1e-5, atol: 1e-6, label: `code ${i}` });
    }
    m.dispose();
  });

  it("saliency works on the zoo's LeNet-5 and errors name the problem", async () => {
    const e = await engineFor(build);
    const m = nn.createModel(e, nn.lenet5(), { seed: 3 });
    const r = saliency(m, uniform(784, 1, 0, 1), 4);
    expect(r.map.length).toBe(784);
    expect(r.map.some((v) => v > 0)).toBe(true);
    expect(() => saliency(m, uniform(784, 1), 10)).toThrow(/class must be an integer in \[0, 10\)/);
    expect(() => saliency(m, uniform(700, 1), 1)).toThrow(nn.SimdnetError);
    expect(() => guidedBackprop(m, uniform(784, 1), { layer: "nope" })).toThrow(/no layer named 'nope'/);
    m.dispose();
    const soft = nn.createModel(e, { inputShape: [2, 2, 1], layers: [{ type: "flatten" }, { type: "dense", units: 3, activation: "softmax" }] });
    expect(() => saliency(soft, uniform(4, 1), 0)).toThrow(/before softmax/);
    soft.dispose();
    const inf = nn.createModel(e, nn.lenet5(), { backward: false });
    expect(() => classModel(inf, 0)).toThrow(/backward: false/);
    inf.dispose();
  });
});

describe("nearest neighbours and t-SNE", () => {
  it("nearestNeighbours matches a brute-force sort and can exclude the query itself", () => {
    const pts = uniform(40 * 3, 5);
    const nb = nearestNeighbours(
      pts,
      pts,
      3,
      4,
      Array.from({ length: 40 }, (_, i) => i),
    );
    for (let q = 0; q < 40; q++) {
      const d = Array.from(
        { length: 40 },
        (_, j) => [j, (pts[3 * q]! - pts[3 * j]!) ** 2 + (pts[3 * q + 1]! - pts[3 * j + 1]!) ** 2 + (pts[3 * q + 2]! - pts[3 * j + 2]!) ** 2] as const,
      )
        .filter(([j]) => j !== q)
        .sort((a, b) => a[1] - b[1]);
      expect(nb[q]).toEqual(d.slice(0, 4).map(([j]) => j));
    }
    expect(() => nearestNeighbours(pts, pts, 3, 41)).toThrow(/k must be/);
  });

  it("t-SNE keeps the nearest neighbours of clustered toy data together, lowers KL, and is seeded", () => {
    // 4 Gaussian clusters of 20 points in 10-D
    const r = rng(3),
      n = 80,
      dim = 10;
    const centres = Array.from({ length: 4 }, () => Array.from({ length: dim }, () => 8 * (r() - 0.5)));
    const x = new Float32Array(n * dim),
      label = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      label[i] = i % 4;
      for (let d = 0; d < dim; d++) x[i * dim + d] = centres[i % 4]![d]! + (r() - 0.5);
    }
    const y = tsne(x, dim, { perplexity: 10, iterations: 300, seed: 2 });
    expect(y.length).toBe(2 * n);
    const nb = nearestNeighbours(
      y,
      y,
      2,
      1,
      Array.from({ length: n }, (_, i) => i),
    );
    const same = nb.filter((row, i) => label[row[0]!] === label[i]).length;
    expect(same / n).toBeGreaterThanOrEqual(0.95);
    // the original-space nearest neighbour stays among the 5 nearest in the embedding for most points
    const nbX = nearestNeighbours(
      x,
      x,
      dim,
      1,
      Array.from({ length: n }, (_, i) => i),
    );
    const nb5 = nearestNeighbours(
      y,
      y,
      2,
      5,
      Array.from({ length: n }, (_, i) => i),
    );
    expect(nbX.filter((row, i) => nb5[i]!.includes(row[0]!)).length / n).toBeGreaterThanOrEqual(0.6);
    const P = tsneAffinities(x, n, dim, 10);
    const random = uniform(2 * n, 99);
    expect(tsneKl(P, y, n, 2)).toBeLessThan(0.5 * tsneKl(P, random, n, 2));
    // P: symmetric, sums to 1
    let sum = 0;
    for (let i = 0; i < n * n; i++) sum += P[i]!;
    expect(sum).toBeCloseTo(1, 6);
    expect(tsne(x, dim, { perplexity: 10, iterations: 300, seed: 2 })).toEqual(y);
    expect(() => tsne(x, dim, { perplexity: 100 })).toThrow(/perplexity/);
  });
});

describe("images and PNG", () => {
  it("filterGrid lays out one tile per filter, each scaled to its own min (black) and max (white)", async () => {
    const e = await engineFor(BUILDS_UNDER_TEST[0]!);
    const w = uniform(9 * 2, 4); // [3, 3, 1, 2]
    const m = nn.createModel(e, { inputShape: [6, 6, 1], layers: [{ type: "conv", filters: 2, size: 3 }] }, { initialParams: { "conv1.weight": w } });
    const img = filterGrid(m, { gap: 1, scale: 1, columns: 2 });
    expect([img.width, img.height]).toEqual([1 + 2 * 4, 1 + 4]);
    for (let f = 0; f < 2; f++) {
      const vals = Array.from({ length: 9 }, (_, i) => w[i * 2 + f]!);
      const hi = vals.indexOf(Math.max(...vals)),
        lo = vals.indexOf(Math.min(...vals));
      const px = (i: number) => img.data[((1 + Math.floor(i / 3)) * img.width + 1 + f * 4 + (i % 3)) * 3]!;
      expect(px(hi)).toBe(255);
      expect(px(lo)).toBe(0);
    }
    const act = activationGrid(m, uniform(36, 1), "conv1", { scale: 1, gap: 0, columns: 2 });
    expect([act.width, act.height]).toEqual([8, 4]);
    m.dispose();
  });

  it("PNG round trip through fast-png; grids, maps, scatters and neighbour grids have the expected sizes", () => {
    const map = mapToImage([0, 1, 2, 3, -1, 0.5], 3, 2, { colorMap: "signed" });
    expect(Array.from(map.data.subarray(0, 3))).toEqual([255, 255, 255]); // 0 -> white in the signed map
    const png = decode(encodePng(map));
    expect([png.width, png.height, png.channels]).toEqual([3, 2, 3]);
    expect(Array.from(png.data)).toEqual(Array.from(map.data));
    const grid = imageGrid([map, null, map], { columns: 2, gap: 1, scale: 2 });
    expect([grid.width, grid.height]).toEqual([1 + 2 * 7, 1 + 2 * 5]);
    const sc = scatterImage([0, 0, 1, 1, 0.5, 0.2], { width: 50, height: 40, labels: [0, 1, 2] });
    expect([sc.width, sc.height]).toEqual([50, 40]);
    const ims = uniform(4 * 2 * 2, 3, 0, 1);
    const nbg = neighbourGrid(
      ims,
      [2, 2, 1],
      [0, 1],
      [
        [2, 3],
        [3, 2],
      ],
      { scale: 1, gap: 0 },
    );
    expect([nbg.width, nbg.height]).toEqual([8, 4]);
    expect(() => hwcToImage([1, 2, 3], 2, 2, 1)).toThrow(nn.SimdnetError);
  });
});
