// Images for visualisations: 8-bit RGB rasters, float maps turned into pixels (grey, signed and
// heat colour maps), tile grids, point scatters, and PNG encoding with fast-png. Nothing here
// touches an engine: the same functions draw in Node, in a browser page and in a Web Worker.
import { encode } from "fast-png";
import { checkInt, fail, fmtValue } from "../errors.js";

/** An 8-bit RGB image, row-major, `data.length === width * height * 3`. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** How float values become colours: grey (min..max -> black..white), signed (0 is grey, negative blue, positive red), heat (0..max -> black, red, yellow, white). */
export type ColorMap = "grey" | "signed" | "heat";

/** A blank image filled with one colour (default white). */
export function blankImage(width: number, height: number, rgb: [number, number, number] = [255, 255, 255]): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
    fail("blankImage", `size must be positive integers, got ${fmtValue(width)}x${fmtValue(height)}`);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return { width, height, data };
}

const clamp255 = (v: number) => (v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255));

function heat(t: number): [number, number, number] {
  // black -> red -> yellow -> white
  return [clamp255(t * 3), clamp255(t * 3 - 1), clamp255(t * 3 - 2)];
}

/**
 * A map of `height * width` floats (row-major) as an image. grey and heat scale [min, max] of the
 * values (heat from 0 when all are >= 0); signed scales by the largest magnitude, 0 at mid grey.
 * `range` fixes the scale instead ([lo, hi]; for signed, hi is the magnitude).
 */
export function mapToImage(
  values: ArrayLike<number>,
  width: number,
  height: number,
  options: { colorMap?: ColorMap; range?: [number, number] } = {},
): RgbImage {
  checkInt("mapToImage", "width", width, 1);
  checkInt("mapToImage", "height", height, 1);
  if (values.length !== width * height) fail("mapToImage", `${values.length} values for a ${width}x${height} map`);
  const cmap = options.colorMap ?? "grey";
  let lo = Infinity,
    hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (options.range) [lo, hi] = options.range;
  if (cmap === "heat" && !options.range && lo >= 0) lo = 0;
  const mag = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
  const span = hi - lo || 1;
  const img = blankImage(width, height);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    let rgb: [number, number, number];
    if (cmap === "signed") {
      const t = Math.max(-1, Math.min(1, v / mag));
      rgb = t >= 0 ? [255, clamp255(1 - t), clamp255(1 - t)] : [clamp255(1 + t), clamp255(1 + t), 255];
    } else {
      const t = (v - lo) / span;
      rgb = cmap === "heat" ? heat(t) : [clamp255(t), clamp255(t), clamp255(t)];
    }
    img.data.set(rgb, i * 3);
  }
  return img;
}

/**
 * One image of an HWC float tensor: 1 channel as grey, 3 as RGB, each scaled by the min / max of
 * all its values (or `range`). Other channel counts show the mean over channels in grey.
 */
export function hwcToImage(values: ArrayLike<number>, height: number, width: number, channels: number, options: { range?: [number, number] } = {}): RgbImage {
  checkInt("hwcToImage", "height", height, 1);
  checkInt("hwcToImage", "width", width, 1);
  checkInt("hwcToImage", "channels", channels, 1);
  if (values.length !== height * width * channels) fail("hwcToImage", `${values.length} values for [${height}, ${width}, ${channels}]`);
  if (channels !== 3) {
    const mean = new Float32Array(height * width);
    for (let p = 0; p < mean.length; p++) {
      let s = 0;
      for (let c = 0; c < channels; c++) s += values[p * channels + c]!;
      mean[p] = s / channels;
    }
    return mapToImage(mean, width, height, { colorMap: "grey", range: options.range });
  }
  let lo = Infinity,
    hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]!);
    hi = Math.max(hi, values[i]!);
  }
  if (options.range) [lo, hi] = options.range;
  const span = hi - lo || 1;
  const img = blankImage(width, height);
  for (let i = 0; i < values.length; i++) img.data[i] = clamp255((values[i]! - lo) / span);
  return img;
}

/** Nearest-neighbour enlargement by an integer factor. */
export function upscale(img: RgbImage, factor: number): RgbImage {
  if (!Number.isInteger(factor) || factor < 1) fail("upscale", `factor must be a positive integer, got ${fmtValue(factor)}`);
  if (factor === 1) return img;
  const out = blankImage(img.width * factor, img.height * factor);
  for (let y = 0; y < out.height; y++) {
    for (let x = 0; x < out.width; x++) {
      const s = (((y / factor) | 0) * img.width + ((x / factor) | 0)) * 3;
      out.data.set(img.data.subarray(s, s + 3), (y * out.width + x) * 3);
    }
  }
  return out;
}

/** Copies `src` into `dst` with its top-left corner at (x, y), clipped to dst. */
export function blit(dst: RgbImage, src: RgbImage, x: number, y: number): void {
  for (let r = 0; r < src.height; r++) {
    const dy = y + r;
    if (dy < 0 || dy >= dst.height) continue;
    for (let c = 0; c < src.width; c++) {
      const dx = x + c;
      if (dx < 0 || dx >= dst.width) continue;
      const s = (r * src.width + c) * 3;
      dst.data.set(src.data.subarray(s, s + 3), (dy * dst.width + dx) * 3);
    }
  }
}

/** Layout of imageGrid (and of the grids filterGrid, activationGrid and neighbourGrid draw). */
export interface GridOptions {
  /** Tiles per row (default: ceil(sqrt(count))). */
  columns?: number;
  /** Pixels between tiles and around the grid (default 2). */
  gap?: number;
  /** Enlarge every tile by this integer factor first (default 1). */
  scale?: number;
  /** Background colour (default white). */
  background?: [number, number, number];
}

/** Tiles (of any sizes) in rows of `columns` cells sized by the largest tile; `null` leaves a cell empty. */
export function imageGrid(tiles: (RgbImage | null)[], options: GridOptions = {}): RgbImage {
  if (tiles.length === 0) fail("imageGrid", "no tiles");
  const scale = options.scale ?? 1,
    gap = options.gap ?? 2;
  const scaled = tiles.map((t) => (t ? upscale(t, scale) : null));
  const cw = Math.max(1, ...scaled.map((t) => t?.width ?? 0)),
    ch = Math.max(1, ...scaled.map((t) => t?.height ?? 0));
  const cols = options.columns ?? Math.ceil(Math.sqrt(tiles.length));
  const rows = Math.ceil(tiles.length / cols);
  const out = blankImage(gap + cols * (cw + gap), gap + rows * (ch + gap), options.background);
  scaled.forEach((t, i) => {
    if (t) blit(out, t, gap + (i % cols) * (cw + gap), gap + Math.floor(i / cols) * (ch + gap));
  });
  return out;
}

/** Ten distinct colours (Tableau 10) for class labels. */
export const PALETTE: [number, number, number][] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [188, 189, 34],
  [23, 190, 207],
];

/** Options of scatterImage: size, colours, thumbnails. */
export interface ScatterOptions {
  /** Output size in pixels (default 600x600). */
  width?: number;
  height?: number;
  /** Class per point: colours from PALETTE (default all the first colour). */
  labels?: ArrayLike<number>;
  /** A small image per point drawn centred on it instead of a dot (a t-SNE of thumbnails). */
  thumbnails?: RgbImage[];
  /** Dot radius in pixels (default 3). */
  radius?: number;
  /** Margin in pixels (default 20). */
  margin?: number;
}

/** Points [n, 2] (x, y pairs) scaled to fit the image, drawn as coloured dots or thumbnails. */
export function scatterImage(xy: ArrayLike<number>, options: ScatterOptions = {}): RgbImage {
  const n = xy.length / 2;
  if (!Number.isInteger(n) || n < 1) fail("scatterImage", `xy must hold x, y pairs, got ${xy.length} values`);
  if (options.labels && options.labels.length !== n) fail("scatterImage", `${options.labels.length} labels for ${n} points`);
  if (options.thumbnails && options.thumbnails.length !== n) fail("scatterImage", `${options.thumbnails.length} thumbnails for ${n} points`);
  const W = options.width ?? 600,
    H = options.height ?? 600,
    m = options.margin ?? 20,
    r = options.radius ?? 3;
  const out = blankImage(W, H);
  let x0 = Infinity,
    x1 = -Infinity,
    y0 = Infinity,
    y1 = -Infinity;
  for (let i = 0; i < n; i++) {
    x0 = Math.min(x0, xy[2 * i]!);
    x1 = Math.max(x1, xy[2 * i]!);
    y0 = Math.min(y0, xy[2 * i + 1]!);
    y1 = Math.max(y1, xy[2 * i + 1]!);
  }
  const sx = (W - 2 * m) / (x1 - x0 || 1),
    sy = (H - 2 * m) / (y1 - y0 || 1);
  for (let i = 0; i < n; i++) {
    const px = Math.round(m + (xy[2 * i]! - x0) * sx),
      py = Math.round(m + (xy[2 * i + 1]! - y0) * sy);
    const thumb = options.thumbnails?.[i];
    if (thumb) {
      blit(out, thumb, px - (thumb.width >> 1), py - (thumb.height >> 1));
      continue;
    }
    const rgb = PALETTE[Math.abs(Math.trunc(options.labels?.[i] ?? 0)) % PALETTE.length]!;
    for (let dy = -r; dy <= r; dy++) {
      for (let dx = -r; dx <= r; dx++) {
        const x = px + dx,
          y = py + dy;
        if (dx * dx + dy * dy <= r * r && x >= 0 && y >= 0 && x < W && y < H) out.data.set(rgb, (y * W + x) * 3);
      }
    }
  }
  return out;
}

/** PNG bytes of an image (8-bit RGB), encoded by fast-png. */
export function encodePng(img: RgbImage): Uint8Array {
  if (img.data.length !== img.width * img.height * 3) fail("encodePng", `${img.data.length} bytes for a ${img.width}x${img.height} RGB image`);
  return encode({ width: img.width, height: img.height, data: img.data, channels: 3, depth: 8 });
}

/** RGBA bytes of an image, as a canvas ImageData wants them. */
export function toRgba(img: RgbImage): Uint8ClampedArray {
  const out = new Uint8ClampedArray(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) {
    out[4 * i] = img.data[3 * i]!;
    out[4 * i + 1] = img.data[3 * i + 1]!;
    out[4 * i + 2] = img.data[3 * i + 2]!;
    out[4 * i + 3] = 255;
  }
  return out;
}
