// Long per-channel sums keep float32 precision: the bias gradient (biasBackward, and so the bias
// gradient of dense and conv) and global average pooling sum each channel over every row in
// float64, with one rounding per output. Against float64 references, on dy of [4, 224, 224, C]
// (a float32 accumulator per channel was 1e-4 to 7e-3 off there), and at channel counts around
// the 4-, 8- and 16-lane column blocks.
import { describe, expect, it } from "vitest";
import * as nn from "../src/index.js";
import { BUILDS_UNDER_TEST, engineFor, rng, TILE_EDGE_SIZES } from "./harness.js";

/** Float64 column sums of x [rows, cols]. */
function columnSums(x: Float32Array, rows: number, cols: number): { sum: Float64Array; abs: Float64Array } {
  const sum = new Float64Array(cols),
    abs = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = x[r * cols + c]!;
      sum[c] = sum[c]! + v;
      abs[c] = abs[c]! + Math.abs(v);
    }
  }
  return { sum, abs };
}

/** Values around `mean` (uniform, half-width 1), seeded. */
function values(n: number, seed: number, mean: number): Float32Array {
  const r = rng(seed),
    out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + 2 * r() - 1;
  return out;
}

/** The worst |got - want| / sum of |terms| over the columns. */
function worstRelative(got: ArrayLike<number>, want: Float64Array, abs: Float64Array): number {
  let worst = 0;
  for (let c = 0; c < want.length; c++) worst = Math.max(worst, Math.abs(got[c]! - want[c]!) / Math.max(abs[c]!, 1e-30));
  return worst;
}

describe.each(BUILDS_UNDER_TEST)("long sums in float64 (%s build)", (build) => {
  it("biasBackward over dy [4, 224, 224, 19]: relative error ~1e-7, accumulating into db", async () => {
    const e = await engineFor(build);
    const rows = 4 * 224 * 224,
      C = 19;
    e.tidy(() => {
      for (const mean of [0.5, 0]) {
        // one-signed (the worst case of a float32 accumulator) and mixed signs
        const dyv = values(rows * C, 3, mean);
        const dy = e.tensor([4, 224, 224, C], dyv);
        const { sum, abs } = columnSums(dyv, rows, C);
        const db = e.tensor([C], new Float32Array(C).fill(0.25));
        nn.biasBackward(dy, db);
        const want = sum.map((s) => s + 0.25);
        expect(
          worstRelative(
            db.data,
            want,
            abs.map((a) => a + 0.25),
          ),
          `mean ${mean}`,
        ).toBeLessThan(1e-6);
      }
    });
  });

  it("the bias gradients of dense and conv2d take the same sums", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const n = 4096,
        inF = 3,
        outF = 17;
      const x = e.tensor([n, inF], values(n * inF, 5, 0)),
        w = e.tensor([inF, outF], values(inF * outF, 6, 0));
      const dyv = values(n * outF, 7, 0.5),
        dy = e.tensor([n, outF], dyv);
      const { sum, abs } = columnSums(dyv, n, outF);
      expect(worstRelative(nn.denseBackward(dy, x, w).db!.data, sum, abs)).toBeLessThan(1e-6);
      const cx = e.tensor([2, 64, 64, 3], values(2 * 64 * 64 * 3, 8, 0)),
        cw = e.tensor([1, 1, 3, 9], values(27, 9, 0));
      const cdyv = values(2 * 64 * 64 * 9, 10, 0.5),
        cdy = e.tensor([2, 64, 64, 9], cdyv);
      const c = columnSums(cdyv, 2 * 64 * 64, 9);
      expect(worstRelative(nn.conv2dBackward(cdy, cx, cw).db!.data, c.sum, c.abs)).toBeLessThan(1e-6);
    });
  });

  it("globalAvgPool over [3, 224, 224, 19]: relative error ~1e-7", async () => {
    const e = await engineFor(build);
    const hw = 224 * 224,
      C = 19,
      N = 3;
    e.tidy(() => {
      const xv = values(N * hw * C, 11, 0.5);
      const y = nn.globalAvgPool(e.tensor([N, 224, 224, C], xv));
      expect(y.shape).toEqual([N, 1, 1, C]);
      for (let b = 0; b < N; b++) {
        const { sum, abs } = columnSums(xv.subarray(b * hw * C, (b + 1) * hw * C), hw, C);
        expect(
          worstRelative(
            y.data.subarray(b * C, (b + 1) * C),
            sum.map((s) => s / hw),
            abs.map((a) => a / hw),
          ),
          `image ${b}`,
        ).toBeLessThan(1e-6);
      }
    });
  });

  it.each([...TILE_EDGE_SIZES, 32, 48, 64])("channel count %i: biasBackward and globalAvgPool match float64 (tile edges)", async (C) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const rows = 3 * 37 * 5;
      const xv = values(rows * C, 20 + C, 0.3);
      const { sum, abs } = columnSums(xv, rows, C);
      expect(worstRelative(nn.biasBackward(e.tensor([rows, C], xv)).data, sum, abs)).toBeLessThan(1e-6);
      const y = nn.globalAvgPool(e.tensor([3, 37, 5, C], xv));
      for (let b = 0; b < 3; b++) {
        const s = columnSums(xv.subarray(b * 185 * C, (b + 1) * 185 * C), 185, C);
        expect(
          worstRelative(
            y.data.subarray(b * C, (b + 1) * C),
            s.sum.map((v) => v / 185),
            s.abs.map((v) => v / 185),
          ),
        ).toBeLessThan(1e-6);
      }
    });
  });
});
