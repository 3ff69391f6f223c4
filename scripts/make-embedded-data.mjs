// Regenerates data/: a fixed, class-balanced subset of Fashion-MNIST as gzip IDX files with the
// standard MNIST names, small enough to ship in the package so training demos need no download.
//   Source: Debian's dataset-fashion-mnist package (apt-get install -y dataset-fashion-mnist),
//           /usr/share/datasets/fashion-mnist/*.gz, or --src DIR with the same four files.
//   Selection: for each class, the first TRAIN_PER_CLASS (train) / TEST_PER_CLASS (test) images in
//           file order, then kept in file order (the original files are already shuffled).
//   Deterministic: the same source gives byte-identical output (gzip level 9, no name, mtime 0).
// Usage: node scripts/make-embedded-data.mjs [--src DIR] [--train-per-class N] [--test-per-class N]
import { gunzipSync, gzipSync } from "node:zlib";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const SRC = arg("src", "/usr/share/datasets/fashion-mnist");
const TRAIN_PER_CLASS = Number(arg("train-per-class", 700));
const TEST_PER_CLASS = Number(arg("test-per-class", 150));
const CLASSES = 10;
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(root, "data");

/** Minimal IDX reader for u8 files (independent of src/data/idx.ts, which the tests check against). */
function readIdxU8(path) {
  const b = gunzipSync(readFileSync(path));
  if (b[0] !== 0 || b[1] !== 0 || b[2] !== 0x08) throw new Error(`${path}: not a u8 IDX file`);
  const rank = b[3];
  const dims = Array.from({ length: rank }, (_, d) => b.readUInt32BE(4 + 4 * d));
  const count = dims.reduce((x, y) => x * y, 1);
  const data = b.subarray(4 + 4 * rank);
  if (data.length !== count) throw new Error(`${path}: ${data.length} data bytes, expected ${count}`);
  return { dims, data };
}

function writeIdxU8(path, dims, data) {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  const gz = gzipSync(Buffer.concat([head, data]), { level: 9 });
  gz.writeUInt32LE(0, 4); // mtime = 0 (zlib writes 0 already; kept explicit for reproducibility)
  writeFileSync(path, gz);
  return gz.length;
}

function subset(prefix, outPrefix, perClass) {
  const images = readIdxU8(join(SRC, `${prefix}-images-idx3-ubyte.gz`));
  const labels = readIdxU8(join(SRC, `${prefix}-labels-idx1-ubyte.gz`));
  const [n, h, w] = images.dims;
  if (labels.dims[0] !== n) throw new Error(`${prefix}: ${n} images but ${labels.dims[0]} labels`);
  const taken = new Array(CLASSES).fill(0);
  const keep = [];
  for (let i = 0; i < n && keep.length < perClass * CLASSES; i++) {
    const y = labels.data[i];
    if (taken[y] < perClass) {
      taken[y]++;
      keep.push(i);
    }
  }
  if (keep.length !== perClass * CLASSES) throw new Error(`${prefix}: not enough images for ${perClass} per class (${taken})`);
  const px = h * w;
  const outImages = Buffer.alloc(keep.length * px);
  const outLabels = Buffer.alloc(keep.length);
  keep.forEach((src, k) => {
    images.data.copy(outImages, k * px, src * px, (src + 1) * px);
    outLabels[k] = labels.data[src];
  });
  const files = [
    [`${outPrefix}-images-idx3-ubyte.gz`, [keep.length, h, w], outImages],
    [`${outPrefix}-labels-idx1-ubyte.gz`, [keep.length], outLabels],
  ];
  for (const [name, dims, data] of files) {
    const bytes = writeIdxU8(join(OUT, name), dims, data);
    const sha = createHash("sha256")
      .update(readFileSync(join(OUT, name)))
      .digest("hex");
    console.log(`${name}: [${dims.join(",")}] ${bytes} bytes, sha256 ${sha}`);
  }
  return { count: keep.length, firstIndex: keep[0], lastIndex: keep[keep.length - 1] };
}

mkdirSync(OUT, { recursive: true });
const train = subset("train", "train", TRAIN_PER_CLASS);
const test = subset("t10k", "t10k", TEST_PER_CLASS);
console.log(
  `train: ${train.count} images (source indices ${train.firstIndex}..${train.lastIndex}); test: ${test.count} images (${test.firstIndex}..${test.lastIndex})`,
);
