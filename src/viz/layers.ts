// What a layer holds and computes: the first layer's filters as an image grid, and the activation
// maps of any layer for an input image.
import { fail, fmtShape } from "../errors.js";
import type { Model } from "../model/model.js";
import { imageCount, planFor } from "./common.js";
import { type GridOptions, hwcToImage, imageGrid, mapToImage, type RgbImage } from "./image.js";

/** The first conv layer of the model (in graph order), or undefined. */
export function firstConvLayer(model: Model): string | undefined {
  return model.graph.nodes.find((n) => n.type === "conv")?.name;
}

/**
 * The filters of a conv layer (default the first) as a grid of tiles, one per output channel:
 * RGB when the filters have 3 input channels, else the mean over input channels in grey, each
 * tile scaled by its own min / max. Weights are [KH, KW, Cin/groups, Cout].
 */
export function filterGrid(model: Model, options: GridOptions & { layer?: string } = {}): RgbImage {
  const layer = options.layer ?? firstConvLayer(model);
  if (!layer) fail("filterGrid", "the model has no conv layer");
  const w = model.stateDict().get(`${layer}.weight`);
  if (!w || w.rank !== 4) fail("filterGrid", `'${layer}' has no conv weight [KH, KW, Cin, Cout]${w ? `, its weight is ${fmtShape(w.shape)}` : ""}`);
  const [kh, kw, cin, cout] = w.shape as [number, number, number, number];
  const data = w.data;
  const tiles: RgbImage[] = [];
  for (let f = 0; f < cout; f++) {
    const one = new Float32Array(kh * kw * cin);
    for (let i = 0; i < kh * kw * cin; i++) one[i] = data[i * cout + f]!;
    tiles.push(hwcToImage(one, kh, kw, cin));
  }
  return imageGrid(tiles, { scale: 8, ...options });
}

/** A layer's output for one image as an image grid: one grey tile per channel of a [H, W, C] map (each scaled by its own range, or `range`), or one tile of the units of a vector layer. */
export function activationGrid(model: Model, image: ArrayLike<number>, layer: string, options: GridOptions & { range?: [number, number] } = {}): RgbImage {
  const op = "activationGrid";
  if (imageCount(op, model, image) !== 1) fail(op, "takes one image");
  if (!model.graph.shapes.has(layer)) fail(op, `no layer named '${layer}' (layers: ${model.graph.nodes.map((n) => n.name).join(", ")})`);
  planFor(model, 1);
  model.forward(image, { training: false });
  const y = model.layerOutput(layer).data;
  const shape = model.graph.shapes.get(layer)!;
  if (shape.length === 3) {
    const [h, w, c] = shape as [number, number, number];
    const tiles: RgbImage[] = [];
    for (let ch = 0; ch < c; ch++) {
      const map = new Float32Array(h * w);
      for (let p = 0; p < h * w; p++) map[p] = y[p * c + ch]!;
      tiles.push(mapToImage(map, w, h, { range: options.range }));
    }
    return imageGrid(tiles, { scale: Math.max(1, Math.floor(56 / Math.max(h, w))), ...options });
  }
  const n = y.length,
    side = Math.ceil(Math.sqrt(n));
  const padded = new Float32Array(side * side);
  padded.set(y);
  return imageGrid([mapToImage(padded, side, side, { range: options.range })], { scale: Math.max(1, Math.floor(112 / side)), ...options });
}
