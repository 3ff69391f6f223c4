// MNIST-like data sets (MNIST, Fashion-MNIST, KMNIST): four IDX files with the standard names,
// gzip-compressed or raw, and the small Fashion-MNIST subset embedded in this package (data/).
import { fail } from "../errors.js";
import { gunzip, type IdxArray, isGzip, parseIdx, readBytes } from "./idx.js";

/** Images as bytes 0..255, [count, height, width] row-major, and their class labels. */
export interface LabeledImages {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  height: number;
  width: number;
}

/** An MNIST-format data set: its training and test images with labels. */
export interface MnistLike {
  train: LabeledImages;
  test: LabeledImages;
}

/** The standard file names of the four MNIST-format IDX files (read with or without .gz). */
export const MNIST_FILES = {
  trainImages: "train-images-idx3-ubyte",
  trainLabels: "train-labels-idx1-ubyte",
  testImages: "t10k-images-idx3-ubyte",
  testLabels: "t10k-labels-idx1-ubyte",
} as const;

/** Fashion-MNIST's ten class names, by label. */
export const FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"] as const;

const asDir = (dir: string | URL): string | URL => {
  if (dir instanceof URL) return dir.href.endsWith("/") ? dir : new URL(dir.href + "/");
  return dir.endsWith("/") ? dir : dir + "/";
};
const join = (dir: string | URL, name: string): string | URL => (dir instanceof URL ? new URL(name, dir) : dir + name);

/** Reads `<name>.gz`, else `<name>`, from dir. */
async function readIdx(dir: string | URL, name: string): Promise<IdxArray> {
  const errors: string[] = [];
  for (const file of [`${name}.gz`, name]) {
    const path = join(dir, file);
    let raw: Uint8Array;
    try {
      raw = await readBytes(path);
    } catch (err) {
      errors.push((err as Error).message);
      continue;
    }
    return parseIdx(isGzip(raw) ? await gunzip(raw, String(path)) : raw, String(path));
  }
  fail("loadMnistLike", `cannot read ${name}[.gz] in ${String(dir)}: ${errors.join("; ")}`);
}

function pair(images: IdxArray, labels: IdxArray, which: string): LabeledImages {
  const op = "loadMnistLike";
  if (images.type !== "u8" || images.dims.length !== 3)
    fail(op, `${which} images must be u8 [count, height, width], got ${images.type} [${images.dims.join(",")}]`);
  if (labels.type !== "u8" || labels.dims.length !== 1) fail(op, `${which} labels must be u8 [count], got ${labels.type} [${labels.dims.join(",")}]`);
  const [count, height, width] = images.dims as [number, number, number];
  if (labels.dims[0] !== count) fail(op, `${which}: ${count} images but ${labels.dims[0]} labels`);
  return { images: images.data as Uint8Array, labels: labels.data as Uint8Array, count, height, width };
}

/**
 * Loads the four standard files (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
 * `t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]`) from a directory path or URL.
 */
export async function loadMnistLike(dir: string | URL): Promise<MnistLike> {
  const d = asDir(dir);
  const files = [MNIST_FILES.trainImages, MNIST_FILES.trainLabels, MNIST_FILES.testImages, MNIST_FILES.testLabels];
  // read together, but a failure reported for the first file in this order (not whichever read failed first)
  const read = await Promise.allSettled(files.map((f) => readIdx(d, f)));
  const [ti, tl, si, sl] = read.map((r) => {
    if (r.status === "rejected") throw r.reason;
    return r.value;
  }) as [IdxArray, IdxArray, IdxArray, IdxArray];
  return { train: pair(ti, tl, "train"), test: pair(si, sl, "test") };
}

/**
 * The class-balanced Fashion-MNIST subset shipped in the package's data/ folder (see
 * data/README.md): 28x28 grey images, 10 classes. Found relative to this module (the bundle in
 * dist/ or the source in src/data/); `dir` overrides the location (a path or URL, e.g. for a
 * browser page that serves data/ elsewhere).
 */
export async function loadEmbedded(dir?: string | URL): Promise<MnistLike> {
  if (dir !== undefined) return loadMnistLike(dir);
  const candidates = [new URL("../data/", import.meta.url), new URL("../../data/", import.meta.url)];
  const errors: string[] = [];
  for (const c of candidates) {
    try {
      return await loadMnistLike(c);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  fail("loadEmbedded", `the embedded data set was not found next to the package: ${errors.join(" | ")}`);
}
