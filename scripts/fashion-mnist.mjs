// Reproduces issue 3's target: LeNet-5 on the full Fashion-MNIST (60,000 training / 10,000 test
// images) reaches >= 90% test accuracy within 5 epochs from a fixed seed. Installs Debian's
// `dataset-fashion-mnist` when the files are missing (needs root: CI runs as root), trains with
// the command line (dist/cli.js, built by scripts/build.mjs) and exits 0 only if the target is met.
// Prints one line "fashion-mnist: N passed, N failed" for scripts/test.mjs.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const DATA = "/usr/share/datasets/fashion-mnist";
const TARGET = 0.9;
// The recipe: Adam 1e-3 with cosine decay, batch 16, seed 1, pixels standardised by the training set.
// Seeds 1, 2, 3 (relaxed build) gave 90.49 / 90.46 / 90.04%. The earlier batch 64, lr 3e-3 sat at
// 90.2 +- 0.5 across seeds (89.59-90.60), so seed 1 crossed 90% or not with any change of rounding.
const ARGS = [
  "train",
  "--data",
  DATA,
  "--epochs",
  "5",
  "--batch",
  "16",
  "--optimizer",
  "adam",
  "--lr",
  "0.001",
  "--seed",
  "1",
  "--out",
  "build/lenet5-fashion-mnist.safetensors",
];

function done(ok, why) {
  console.log(why);
  console.log(`fashion-mnist: ${ok ? 1 : 0} passed, ${ok ? 0 : 1} failed`);
  process.exit(ok ? 0 : 1);
}

if (!existsSync(`${DATA}/train-images-idx3-ubyte.gz`)) {
  console.log(`${DATA} is missing: installing Debian's dataset-fashion-mnist`);
  const apt = (...args) => spawnSync("apt-get", args, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  if (apt("update", "-q").status !== 0 || apt("install", "-y", "-q", "--no-install-recommends", "dataset-fashion-mnist").status !== 0) {
    done(false, "could not install dataset-fashion-mnist (apt-get needs root and Debian's archive)");
  }
}
// Node 20 runs the relaxed-SIMD build only with this flag; the result is deterministic per build.
const r = spawnSync(process.execPath, ["--experimental-wasm-relaxed-simd", "dist/cli.js", ...ARGS], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
process.stdout.write(r.stdout ?? "");
const m = /test accuracy ([\d.]+)% on ([\d,]+) test images/.exec(r.stdout ?? "");
if (r.status !== 0 || !m) done(false, `training failed (exit ${r.status})`);
const accuracy = Number(m[1]) / 100;
done(accuracy >= TARGET, `LeNet-5, full Fashion-MNIST, 5 epochs: test accuracy ${(100 * accuracy).toFixed(2)}% (target ${100 * TARGET}%)`);
