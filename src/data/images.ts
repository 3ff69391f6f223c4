// Image files as training data: PNG (fast-png) and JPEG (jpeg-js) decoded to HWC bytes, resized
// (bilinear) and converted to the channels a model takes, and a reader for class-per-folder trees
// (photos/cat/*.jpg, photos/dog/*.png: one class per sub-folder, classes in name order) whose
// result is fit's {x, shape, labels}. decodeImage and resizeImage run in every runtime; reading a
// folder needs a file system (Node, Deno, Bun).
import { decode as decodePng } from "fast-png";
import { decode as decodeJpeg } from "jpeg-js";
import { checkInt, fail } from "../errors.js";

/** An 8-bit image, HWC row-major: `data` holds height * width * channels bytes. */
export interface ImageBytes {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** Decodes PNG (1-4 channels, 8 or 16 bits: 16-bit samples keep their high byte) or baseline/progressive JPEG (RGB, or grey). */
export function decodeImage(bytes: Uint8Array, name = "image"): ImageBytes {
  const op = "decodeImage";
  if (!(bytes instanceof Uint8Array)) fail(op, `${name}: bytes must be a Uint8Array`);
  const png = bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const jpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (png) {
    let img: ReturnType<typeof decodePng>;
    try {
      img = decodePng(bytes);
    } catch (err) {
      fail(op, `${name} is not a readable PNG: ${(err as Error).message}`);
    }
    if (img.palette) fail(op, `${name}: palette PNGs are not supported; save it as RGB or grey`);
    const channels = img.channels;
    const data =
      img.depth === 16 ? Uint8Array.from(img.data as Uint16Array, (v) => v >> 8) : new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.length);
    if (img.depth !== 8 && img.depth !== 16) fail(op, `${name}: ${img.depth}-bit PNGs are not supported (8 or 16 bits)`);
    return { data, width: img.width, height: img.height, channels };
  }
  if (jpeg) {
    let img: { width: number; height: number; data: Uint8Array };
    try {
      img = decodeJpeg(bytes, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
    } catch (err) {
      fail(op, `${name} is not a readable JPEG: ${(err as Error).message}`);
    }
    const channels = img.data.length / (img.width * img.height);
    if (channels !== 1 && channels !== 3) fail(op, `${name}: a JPEG with ${channels} channels is not supported`);
    return { data: img.data, width: img.width, height: img.height, channels };
  }
  fail(op, `${name} is neither PNG nor JPEG (its first bytes are ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ")})`);
}

/**
 * The image resized to height x width (bilinear, pixel centres aligned; shrinking by more than 2x
 * first averages boxes, so small outputs do not alias) with `channels` channels: grey is copied to
 * RGB, RGB averaged to grey, alpha dropped.
 */
export function resizeImage(img: ImageBytes, height: number, width: number, channels: number): ImageBytes {
  const op = "resizeImage";
  checkInt(op, "height", height, 1);
  checkInt(op, "width", width, 1);
  if (channels !== 1 && channels !== 3) fail(op, `channels must be 1 or 3, got ${channels}`);
  const src = toChannels(img, channels);
  let cur = src;
  // box-halve while the image is more than twice the target, then one bilinear pass
  while (cur.height >= 2 * height && cur.width >= 2 * width) cur = halve(cur);
  if (cur.height === height && cur.width === width) return cur;
  const out = new Uint8Array(height * width * channels);
  const sy = cur.height / height,
    sx = cur.width / width;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), cur.height - 1);
    const y0 = Math.floor(fy),
      y1 = Math.min(y0 + 1, cur.height - 1),
      wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), cur.width - 1);
      const x0 = Math.floor(fx),
        x1 = Math.min(x0 + 1, cur.width - 1),
        wx = fx - x0;
      for (let c = 0; c < channels; c++) {
        const at = (yy: number, xx: number) => cur.data[(yy * cur.width + xx) * channels + c]!;
        const top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx,
          bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx;
        out[(y * width + x) * channels + c] = Math.round(top * (1 - wy) + bottom * wy);
      }
    }
  }
  return { data: out, width, height, channels };
}

function toChannels(img: ImageBytes, channels: number): ImageBytes {
  const { width, height } = img,
    n = width * height,
    from = img.channels;
  if (from === channels) return img;
  const out = new Uint8Array(n * channels);
  for (let p = 0; p < n; p++) {
    const s = p * from;
    if (channels === 3) {
      const grey = from < 3; // grey or grey + alpha
      for (let c = 0; c < 3; c++) out[p * 3 + c] = img.data[s + (grey ? 0 : c)]!;
    } else {
      out[p] = from < 3 ? img.data[s]! : Math.round((img.data[s]! + img.data[s + 1]! + img.data[s + 2]!) / 3);
    }
  }
  return { data: out, width, height, channels };
}

function halve(img: ImageBytes): ImageBytes {
  const w = img.width >> 1,
    h = img.height >> 1,
    C = img.channels;
  const out = new Uint8Array(w * h * C);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < C; c++) {
        const at = (yy: number, xx: number) => img.data[(yy * img.width + xx) * C + c]!;
        out[(y * w + x) * C + c] = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1) + 2) >> 2;
      }
    }
  }
  return { data: out, width: w, height: h, channels: C };
}

/** Options of loadImageFolder. */
export interface ImageFolderOptions {
  /** Output height and width of every image (the model's input size). */
  size: number | readonly [number, number];
  /** Channels of the output (default 3; 1 for grey models). */
  channels?: number;
  /** Class names to use, in label order (default: the sub-folders, sorted). Other folders are an error. */
  classes?: readonly string[];
}

/** A class-per-folder image set: fit's `{x, shape, labels}` plus the class names and file of each item. */
export interface ImageFolder {
  /** The images as bytes, NHWC [count, size, size, channels] (fit and evaluate divide by 255). */
  x: Uint8Array;
  shape: [number, number, number, number];
  labels: Int32Array;
  /** Class names by label: the sub-folder names. */
  classes: string[];
  /** Each item's path, relative to the folder. */
  files: string[];
}

type Dirent = { name: string; isDirectory(): boolean; isFile(): boolean };
type NodeFs = { readdir(path: string, o: { withFileTypes: true }): Promise<Dirent[]>; readFile(path: string): Promise<Uint8Array> };

async function nodeFs(): Promise<NodeFs> {
  const specifier = ["node", "fs/promises"].join(":"); // not resolved by bundlers for browsers
  try {
    return (await import(/* @vite-ignore */ specifier)) as NodeFs;
  } catch {
    fail("loadImageFolder", "reading a folder needs a file system (Node, Deno or Bun)");
  }
}

const IMAGE = /\.(png|jpe?g)$/i;

/** The class folders and image files of a class-per-folder tree (no image is read). */
export async function listImageFolder(dir: string, wanted?: readonly string[]): Promise<{ classes: string[]; files: string[]; labels: Int32Array }> {
  const op = "loadImageFolder";
  const fs = await nodeFs();
  const root = dir.replace(/\/+$/, "");
  let entries: Dirent[];
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch (err) {
    fail(op, `cannot read the folder ${dir}: ${(err as Error).message}`);
  }
  const folders = entries
    .filter((d) => d.isDirectory() && !d.name.startsWith("."))
    .map((d) => d.name)
    .sort();
  const classes = wanted ? [...wanted] : folders;
  for (const f of folders) if (!classes.includes(f)) fail(op, `${dir} has a folder '${f}' that is not one of the classes ${classes.join(", ")}`);
  if (classes.length < 2) fail(op, `${dir} needs at least two class folders, found ${folders.length ? folders.join(", ") : "none"}`);
  const files: string[] = [],
    labels: number[] = [];
  const walk = async (path: string, label: number): Promise<void> => {
    const list = (await fs.readdir(`${root}/${path}`, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const d of list) {
      if (d.name.startsWith(".")) continue;
      if (d.isDirectory()) await walk(`${path}/${d.name}`, label);
      else if (d.isFile() && IMAGE.test(d.name)) {
        files.push(`${path}/${d.name}`);
        labels.push(label);
      }
    }
  };
  for (const [label, name] of classes.entries()) {
    if (!folders.includes(name)) fail(op, `${dir} has no folder for class '${name}'`);
    await walk(name, label);
  }
  if (files.length === 0) fail(op, `${dir} has no PNG or JPEG files in its class folders`);
  return { classes, files, labels: Int32Array.from(labels) };
}

/**
 * Reads a class-per-folder tree (`dir/<class>/*.png|jpg|jpeg`, any depth below each class folder)
 * into fit's `{x, shape, labels}`: every image decoded, converted to `channels` and resized to
 * `size`. Files that are not PNG or JPEG by name are skipped; a file that does not decode is an
 * error naming it.
 */
export async function loadImageFolder(dir: string, options: ImageFolderOptions): Promise<ImageFolder> {
  const op = "loadImageFolder";
  if (!options || typeof options !== "object") fail(op, "options {size} are required");
  const [height, width] = typeof options.size === "number" ? [options.size, options.size] : options.size;
  checkInt(op, "size", height, 1);
  checkInt(op, "size", width, 1);
  const channels = options.channels ?? 3;
  if (channels !== 1 && channels !== 3) fail(op, `channels must be 1 or 3, got ${channels}`);
  const { classes, files, labels } = await listImageFolder(dir, options.classes);
  const fs = await nodeFs();
  const root = dir.replace(/\/+$/, "");
  const per = height * width * channels;
  const x = new Uint8Array(files.length * per);
  for (let i = 0; i < files.length; i++) {
    const img = decodeImage(await fs.readFile(`${root}/${files[i]}`), `${dir}/${files[i]}`);
    x.set(resizeImage(img, height, width, channels).data, i * per);
  }
  return { x, shape: [files.length, height, width, channels], labels, classes, files };
}
