// "CNN codes": the penultimate layer's vector per image (Model.code()), nearest neighbours in code
// space (Krizhevsky et al. 2012, Fig. 4) and their picture.
import { fail } from "../errors.js";
import { checkShapeArg } from "../ops/common.js";
import type { Model } from "../model/model.js";
import { sizeOf } from "../tensor.js";
import { imageCount, inputShape, planFor } from "./common.js";
import { type GridOptions, hwcToImage, imageGrid, type RgbImage } from "./image.js";

/** CNN codes: one row of penultimate-layer activations per image. */
export interface Codes {
  /** [count, dim], row-major. */
  codes: Float32Array;
  count: number;
  dim: number;
}

/**
 * The code of every image (N images HWC as the model expects): the output of `layer` (default the
 * model's code layer, the input of its final classifier), in inference mode, in batches of
 * `batchSize` (default min(N, 100); the last batch is zero-padded).
 */
export function computeCodes(model: Model, images: ArrayLike<number>, options: { layer?: string; batchSize?: number } = {}): Codes {
  const op = "computeCodes";
  const n = imageCount(op, model, images);
  const layer = options.layer ?? model.codeLayer;
  if (!layer) fail(op, "the model has no code layer: pass options.layer");
  const shape = model.graph.shapes.get(layer);
  if (!shape) fail(op, `no layer named '${layer}'`);
  const dim = sizeOf(shape),
    per = sizeOf(inputShape(op, model));
  const B = options.batchSize ?? Math.min(n, 100);
  if (!Number.isInteger(B) || B < 1) fail(op, `batchSize must be a positive integer, got ${B}`);
  planFor(model, B);
  const codes = new Float32Array(n * dim);
  const chunk = new Float32Array(B * per);
  for (let start = 0; start < n; start += B) {
    const m = Math.min(B, n - start);
    chunk.fill(0);
    for (let i = 0; i < m * per; i++) chunk[i] = images[start * per + i]!;
    model.forward(chunk, { training: false });
    codes.set(model.layerOutput(layer).data.subarray(0, m * dim), start * dim);
  }
  return { codes, count: n, dim };
}

/** Squared Euclidean distance between rows i of a and j of b ([*, dim]). */
function dist2(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number, dim: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) {
    const t = a[i * dim + d]! - b[j * dim + d]!;
    s += t * t;
  }
  return s;
}

/**
 * The k nearest rows of `points` ([count, dim]) to each query row (Euclidean), nearest first.
 * `exclude[q]` (e.g. the query's own index when it is one of the points) is skipped.
 */
export function nearestNeighbours(points: ArrayLike<number>, queries: ArrayLike<number>, dim: number, k: number, exclude?: ArrayLike<number>): number[][] {
  const op = "nearestNeighbours";
  if (!Number.isInteger(dim) || dim < 1) fail(op, `dim must be a positive integer, got ${dim}`);
  const n = points.length / dim,
    q = queries.length / dim;
  if (!Number.isInteger(n) || !Number.isInteger(q)) fail(op, `points (${points.length}) and queries (${queries.length}) must be whole rows of ${dim}`);
  if (!Number.isInteger(k) || k < 1 || k > n) fail(op, `k must be an integer in [1, ${n}], got ${k}`);
  const out: number[][] = [];
  for (let i = 0; i < q; i++) {
    const order = Array.from({ length: n }, (_, j) => j).filter((j) => exclude?.[i] !== j);
    const d = order.map((j) => dist2(queries, i, points, j, dim));
    const idx = order.map((_, t) => t).sort((a, b) => d[a]! - d[b]! || order[a]! - order[b]!);
    out.push(idx.slice(0, k).map((t) => order[t]!));
  }
  return out;
}

/**
 * One row per query: the query image, an empty cell, then its neighbours, from N images HWC of
 * the model's input shape.
 */
export function neighbourGrid(
  images: ArrayLike<number>,
  imageShape: readonly number[],
  queries: number[],
  neighbours: number[][],
  options: GridOptions = {},
): RgbImage {
  const [h, w, c] = checkShapeArg("neighbourGrid", "imageShape", imageShape, { rank: 3 }) as [number, number, number];
  const per = h * w * c;
  const tile = (i: number) => {
    if (!Number.isInteger(i) || i < 0 || (i + 1) * per > images.length) fail("neighbourGrid", `image ${i} is out of range`);
    return hwcToImage(Array.prototype.slice.call(images, i * per, (i + 1) * per) as number[], h, w, c);
  };
  if (queries.length !== neighbours.length) fail("neighbourGrid", `${queries.length} queries but ${neighbours.length} neighbour lists`);
  const k = Math.max(...neighbours.map((r) => r.length));
  const cells: (RgbImage | null)[] = [];
  queries.forEach((qi, r) => {
    cells.push(tile(qi), null);
    for (let j = 0; j < k; j++) cells.push(j < neighbours[r]!.length ? tile(neighbours[r]![j]!) : null);
  });
  return imageGrid(cells, { columns: k + 2, scale: 2, ...options });
}
