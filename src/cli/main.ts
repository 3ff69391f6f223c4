// The `simdnet` command line (Node). Subcommands:
//   train     train a zoo model (default LeNet-5 on the embedded Fashion-MNIST subset) and save weights
//   summary   the per-layer accounting table of a zoo model
//   predict   run saved weights on images (IDX files, PNG files, or the embedded test set)
//   viz       visualisations written as PNG files (src/cli/viz.ts parses its own flags)
//   onnx-test, run, export-onnx   ONNX conformance cases, one inference of a .onnx file, export (src/cli/onnx.ts)
// Each subcommand is one function taking parsed options; `main` dispatches.
import { parseArgs } from "node:util";
import { SingleBar } from "cli-progress";
import { init } from "../engine.js";
import { SimdnetError } from "../errors.js";
import type { BuildName } from "../runtime.js";
import { loadIdxFile } from "../data/idx.js";
import { FASHION_MNIST_CLASSES, type LabeledImages, loadEmbedded, loadMnistLike } from "../data/mnist.js";
import { createModel } from "../model/model.js";
import { summary } from "../model/summary.js";
import { loadWeights, saveWeights } from "../model/weights.js";
import { evaluate, fit } from "../train/fit.js";
import { Adam, type Optimizer, SGD } from "../train/optimizers.js";
import { cosineDecay } from "../train/schedules.js";
import { vizCommand, VIZ_USAGE } from "./viz.js";
import { zooSpec, ZOO } from "./zoo-registry.js";
import { exportOnnxFile, onnxTest, runOnnxFile } from "./onnx.js";
import { isIdxFolder, trainFolder } from "./train-folder.js";
import { isTextTraining, sampleCommand, TEXT_USAGE, trainText } from "./text.js";
import { VIZ_RNN_KINDS, VIZ_RNN_USAGE, vizRnnCommand } from "./viz-rnn.js";
import { checkOutputPath, readInput, readPng, writeFileAtomic } from "./files.js";

const USAGE = `simdnet: convolutional networks on WebAssembly SIMD

usage:
  simdnet train   [--model lenet5] [--data DIR] [--epochs 5] [--batch 64] [--optimizer adam|sgd]
                  [--lr 0.002 (adam) | 0.05 (sgd)] [--flip on|off] [--seed 1] [--build auto|scalar|simd|relaxed] [--out lenet5.safetensors]
                  [--limit N]
      Trains a zoo model with softmax cross-entropy. Without --data it uses the Fashion-MNIST subset
      embedded in the package (7,000 training and 1,500 test images); --data DIR reads the four
      MNIST-format IDX files (gzip or raw), e.g. /usr/share/datasets/fashion-mnist.
  simdnet train   --data photos/ [--model resnet18] [--init model.onnx|weights.safetensors] [--freeze-until LAYER]
                  [--input-size 224] [--epochs 5] [--batch 16] [--lr 0.001] [--flip on|off] [--seed 1] [--out FILE]
      Transfer learning on a folder of class folders (photos/cat/*.jpg, photos/dog/*.png): the model
      (--init weights, or a fresh zoo model) gets a new classifier head for the folder's classes; the
      layers up to --freeze-until (names: simdnet summary) stay frozen; a fifth is held out for validation.
  simdnet summary <model> [--input-size N] [--classes K] [--channels C]
      Output shape, activation values and parameters per layer, and totals.
      Models: ${Object.keys(ZOO).join(", ")}
  simdnet predict --weights FILE [--model lenet5] [IMAGES...] [--labels FILE] [--data DIR]
      Classifies images: an IDX images file (.gz or raw), PNG files, or (no images) the test set
      of --data or the embedded set. Prints one line per image (or the accuracy for a data set).
  simdnet onnx-test <case-dir | light_net.onnx | dir-of-cases>... [--build B]
      Runs ONNX backend-test cases (model.onnx + test_data_set_N/) through an InferenceSession;
      light_<net>.onnx files are fed arange(n).reshape(shape) / n and compared with
      light_<net>_output_0.pb. One line per case
      (PASS/FAIL, name, max abs and rel error), then "N passed, N failed"; exit 1 if any fails.
  simdnet run model.onnx [--input file.pb[,file2.pb] | img.jpg[,img2.png] | random | arange] [--shape name=1x3x224x224]
              [--mean 0.485,0.456,0.406] [--std 0.229,0.224,0.225] [--labels labels.txt] [--top 5] [--threads N] [--build B]
      One inference through an InferenceSession: prints each output's name, shape, first values and top
      classes (named from a labels file, one per line). Images are resized to the input, scaled to [0, 1],
      normalised per channel and laid out NCHW or NHWC as the input declares; --shape sets symbolic
      dimensions (an input's whole shape, or a named dimension: --shape batch=4).
  simdnet export-onnx [--model lenet5] [--weights FILE] [--out lenet5.onnx] [--input-size N] [--classes K] [--channels C]
      Writes a zoo model (with trained weights) as ONNX (opset 13, NCHW).
${TEXT_USAGE}${VIZ_USAGE}${VIZ_RNN_USAGE}`;

type Flags = Record<string, string | boolean | undefined>;
/** Every --flag takes a value; an unknown flag is an error (parseArgs strict mode). */
const STRING_FLAGS = [
  "flip",
  "init",
  "freeze-until",
  "model",
  "data",
  "epochs",
  "batch",
  "optimizer",
  "lr",
  "seed",
  "build",
  "out",
  "limit",
  "weights",
  "labels",
  "input-size",
  "classes",
  "channels",
  "input",
  "top",
  "shape",
  "mean",
  "std",
  "threads",
];

function intFlag(flags: Flags, name: string, fallback: number): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new SimdnetError(`--${name} must be a positive integer, got '${v}'`);
  return n;
}

function numFlag(flags: Flags, name: string, fallback: number): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new SimdnetError(`--${name} must be a positive number, got '${v}'`);
  return n;
}

function buildFlag(flags: Flags): "auto" | BuildName {
  const b = (flags.build as string | undefined) ?? "auto";
  if (!["auto", "scalar", "simd", "relaxed"].includes(b)) throw new SimdnetError(`--build must be auto, scalar, simd or relaxed, got '${b}'`);
  return b as "auto" | BuildName;
}

function take(set: LabeledImages, limit: number | undefined): LabeledImages {
  if (!limit || limit >= set.count) return set;
  const pixels = set.height * set.width;
  return { ...set, count: limit, images: set.images.subarray(0, limit * pixels), labels: set.labels.subarray(0, limit) };
}

/** Mean and standard deviation of the pixels (scaled to [0, 1]) of a data set. */
function pixelStats(set: LabeledImages): { mean: number; std: number } {
  let sum = 0,
    sq = 0;
  const n = set.count * set.height * set.width;
  for (let i = 0; i < n; i++) {
    const v = set.images[i]! / 255;
    sum += v;
    sq += v * v;
  }
  const mean = sum / n;
  return { mean: Number(mean.toFixed(4)), std: Number(Math.sqrt(Math.max(sq / n - mean * mean, 1e-12)).toFixed(4)) };
}

async function train(flags: Flags): Promise<void> {
  if (flags.data && !isIdxFolder(String(flags.data))) {
    const inputSize = flags["input-size"] === undefined ? undefined : intFlag(flags, "input-size", 224);
    return trainFolder(flags, {
      epochs: intFlag(flags, "epochs", 5),
      batchSize: intFlag(flags, "batch", 16),
      seed: intFlag(flags, "seed", 1),
      lr: numFlag(flags, "lr", 1e-3),
      build: buildFlag(flags),
      inputSize,
    });
  }
  if (flags.init !== undefined || flags["freeze-until"] !== undefined)
    throw new SimdnetError("--init and --freeze-until need --data with a folder of class folders");
  const modelName = (flags.model as string | undefined) ?? "lenet5";
  const epochs = intFlag(flags, "epochs", 5);
  const batchSize = intFlag(flags, "batch", 64);
  const seed = intFlag(flags, "seed", 1);
  const limit = flags.limit === undefined ? undefined : intFlag(flags, "limit", 0);
  const out = (flags.out as string | undefined) ?? `${modelName}.safetensors`;
  checkOutputPath(out, "--out"); // before training, not after
  if (flags.flip !== undefined && flags.flip !== "on" && flags.flip !== "off") throw new SimdnetError(`--flip must be on or off, got '${flags.flip}'`);
  const optimizerName = (flags.optimizer as string | undefined) ?? "adam";
  if (optimizerName !== "sgd" && optimizerName !== "adam") throw new SimdnetError(`--optimizer must be sgd or adam, got '${optimizerName}'`);
  const data = flags.data ? await loadMnistLike(String(flags.data)) : await loadEmbedded();
  const trainSet = take(data.train, limit);
  const e = await init({ build: buildFlag(flags) });
  const spec = zooSpec(modelName, { classes: 10, channels: 1, inputSize: data.train.height });
  const model = createModel(e, spec, { seed, batch: batchSize });
  let optimizer: Optimizer;
  let lr: number;
  if (optimizerName === "sgd") optimizer = new SGD({ lr: (lr = numFlag(flags, "lr", 0.05)), momentum: 0.9, nesterov: true, weightDecay: 5e-4 });
  else if (optimizerName === "adam") optimizer = new Adam({ lr: (lr = numFlag(flags, "lr", 2e-3)) });
  else throw new SimdnetError(`--optimizer must be sgd or adam, got '${optimizerName}'`);

  console.log(
    `simdnet train: ${modelName} (${model.summary().totalParams.toLocaleString("en-US")} parameters), ` +
      `${trainSet.count.toLocaleString("en-US")} training images ${flags.data ? `from ${flags.data}` : "(embedded Fashion-MNIST subset)"}, ` +
      `wasm build '${e.build}', batch ${batchSize}, ${optimizerName} lr ${lr}, ${epochs} epochs`,
  );
  const bar = new SingleBar({
    format: "epoch {epoch}/{epochs} [{bar}] {percentage}% | loss {loss} | accuracy {acc} | {ips} images/s",
    barsize: 30,
    hideCursor: true,
    noTTYOutput: false,
  });
  const schedule = cosineDecay({ lr, total: epochs, minLr: lr * 0.05 });
  const normalize = pixelStats(trainSet);
  let running = { loss: 0, right: 0, n: 0 };
  fit(model, trainSet, {
    epochs,
    batchSize,
    optimizer,
    schedule,
    seed,
    normalize,
    augment: { flip: flags.flip === "on" },
    onBatch: (s) => {
      if (s.batch === 1) {
        running = { loss: 0, right: 0, n: 0 };
        if (process.stdout.isTTY) bar.start(s.batches ?? 0, 0, { epoch: s.epoch, epochs, loss: "-", acc: "-", ips: "-" });
      }
      running.loss += s.loss;
      running.right += s.accuracy ?? 0;
      running.n++;
      if (process.stdout.isTTY) {
        bar.update(s.batch, {
          loss: (running.loss / running.n).toFixed(4),
          acc: `${((100 * running.right) / running.n).toFixed(1)}%`,
          ips: Math.round(s.imagesPerSecond),
        });
      }
    },
    onEpoch: (info) => {
      if (process.stdout.isTTY) bar.stop();
      console.log(
        `epoch ${info.epoch}/${epochs}: loss ${info.loss.toFixed(4)}, training accuracy ${(100 * (info.accuracy ?? NaN)).toFixed(2)}%, ` +
          `${Math.round(info.imagesPerSecond)} images/s, ${info.seconds.toFixed(1)} s, lr ${info.lr.toPrecision(3)}`,
      );
    },
  });
  const result = evaluate(model, data.test, { batchSize: 100, normalize });
  console.log(
    `test accuracy ${(100 * (result.accuracy ?? NaN)).toFixed(2)}% on ${data.test.count.toLocaleString("en-US")} test images (loss ${result.loss.toFixed(4)})`,
  );
  writeFileAtomic(
    out,
    saveWeights(model, {
      model: modelName,
      epochs: String(epochs),
      testAccuracy: (result.accuracy ?? NaN).toFixed(4),
      inputMean: String(normalize.mean),
      inputStd: String(normalize.std),
    }),
    "--out",
  );
  console.log(`weights saved to ${out}`);
}

function printSummary(positionals: string[], flags: Flags): void {
  const name = positionals[0];
  if (!name) throw new SimdnetError(`summary needs a model name (${Object.keys(ZOO).join(", ")})`);
  const options: Record<string, number> = {};
  for (const [flag, key] of [
    ["input-size", "inputSize"],
    ["classes", "classes"],
    ["channels", "channels"],
  ] as const) {
    if (flags[flag] !== undefined) options[key] = intFlag(flags, flag, 1);
  }
  console.log(summary(zooSpec(name, options)).table);
}

/** Grey images [count, h, w] as bytes from PNG files (colour is averaged to grey). */
function readPngs(files: string[]): LabeledImages {
  const decoded = files.map((f) => {
    const png = readPng(f, "image");
    const { width, height, channels, data } = png;
    const grey = new Uint8Array(width * height);
    const colour = channels >= 3 ? 3 : 1;
    const scale = data instanceof Uint16Array ? 1 / 257 : 1;
    for (let p = 0; p < width * height; p++) {
      let s = 0;
      for (let c = 0; c < colour; c++) s += data[p * channels + c]!;
      grey[p] = Math.round((s / colour) * scale);
    }
    return { file: f, width, height, grey };
  });
  const { width, height } = decoded[0]!;
  for (const d of decoded) {
    if (d.width !== width || d.height !== height)
      throw new SimdnetError(`predict: ${d.file} is ${d.width}x${d.height}, but ${decoded[0]!.file} is ${width}x${height}`);
  }
  const images = new Uint8Array(decoded.length * width * height);
  decoded.forEach((d, i) => images.set(d.grey, i * width * height));
  return { images, labels: new Uint8Array(decoded.length), count: decoded.length, height, width };
}

async function predict(positionals: string[], flags: Flags): Promise<void> {
  const weights = flags.weights as string | undefined;
  if (!weights) throw new SimdnetError("predict needs --weights FILE (written by simdnet train)");
  const bytes = readInput(weights, "--weights");
  let set: LabeledImages;
  let haveLabels = true;
  if (positionals.length === 0) {
    set = (flags.data ? await loadMnistLike(String(flags.data)) : await loadEmbedded()).test;
  } else if (positionals.every((f) => f.toLowerCase().endsWith(".png"))) {
    set = readPngs(positionals);
    haveLabels = false;
  } else {
    const idx = await loadIdxFile(positionals[0]!);
    if (idx.dims.length !== 3 || idx.type !== "u8")
      throw new SimdnetError(`predict: ${positionals[0]} must hold u8 images [count, h, w], got ${idx.type} [${idx.dims.join(",")}]`);
    const [count, height, width] = idx.dims as [number, number, number];
    let labels: Uint8Array = new Uint8Array(count);
    haveLabels = !!flags.labels;
    if (flags.labels) labels = (await loadIdxFile(String(flags.labels))).data as Uint8Array;
    if (labels.length !== count) throw new SimdnetError(`predict: ${flags.labels} has ${labels.length} labels for ${count} images`);
    set = { images: idx.data as Uint8Array, labels, count, height, width };
  }
  const e = await init({ build: buildFlag(flags) });
  const modelName = (flags.model as string | undefined) ?? "lenet5";
  const model = createModel(e, zooSpec(modelName, { classes: 10, channels: 1, inputSize: set.height }), { backward: false });
  const meta = loadWeights(model, bytes);
  // the pixel normalisation the model was trained with (saved by train)
  const normalize = meta.inputMean && meta.inputStd ? { mean: Number(meta.inputMean), std: Number(meta.inputStd) } : undefined;
  const result = evaluate(model, set, { batchSize: Math.min(100, set.count), normalize });
  if (positionals.length > 0) {
    const names = positionals[0]!.toLowerCase().endsWith(".png") ? positionals : Array.from({ length: set.count }, (_, i) => `#${i}`);
    for (let i = 0; i < set.count; i++) {
      const k = result.predictions![i]!;
      console.log(`${names[i]}: ${k} ${FASHION_MNIST_CLASSES[k] ?? ""}${haveLabels ? ` (label ${set.labels[i]})` : ""}`);
    }
  }
  if (haveLabels) console.log(`accuracy ${(100 * (result.accuracy ?? NaN)).toFixed(2)}% on ${set.count} images`);
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "viz" && VIZ_RNN_KINDS.includes(rest[0] ?? "")) return vizRnnCommand(rest);
  if (command === "viz") return vizCommand(rest); // its own flags
  if (command === "sample") return sampleCommand(rest);
  if (command === "train" && isTextTraining(rest)) return trainText(rest);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: Object.fromEntries(STRING_FLAGS.map((name) => [name, { type: "string" as const }])),
    });
  } catch (err) {
    console.error(`simdnet: ${(err as Error).message.replace(/\s*\n\s*/g, " ")} (simdnet help shows the usage)`);
    return 1;
  }
  const { values: flags, positionals } = parsed;
  switch (command) {
    case "train":
      await train(flags);
      return 0;
    case "summary":
      printSummary(positionals, flags);
      return 0;
    case "predict":
      await predict(positionals, flags);
      return 0;
    case "onnx-test":
      return onnxTest(positionals, buildFlag(flags));
    case "run":
      buildFlag(flags);
      await runOnnxFile(positionals, flags);
      return 0;
    case "export-onnx": {
      buildFlag(flags);
      const options: Record<string, number> = {};
      for (const [flag, key] of [
        ["input-size", "inputSize"],
        ["classes", "classes"],
        ["channels", "channels"],
      ] as const) {
        if (flags[flag] !== undefined) options[key] = intFlag(flags, flag, 1);
      }
      await exportOnnxFile(flags, options);
      return 0;
    }
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return command === undefined ? 1 : 0;
    default:
      console.error(
        `simdnet: unknown command '${command}' (commands: train, summary, predict, viz, onnx-test, run, export-onnx; simdnet help shows the usage)`,
      );
      return 1;
  }
}

/**
 * An error as the one line the command prints: its message (first line) after "simdnet: ";
 * errors that are not SimdnetErrors are named as internal, with their stack only when
 * SIMDNET_DEBUG is set.
 */
function errorLine(err: unknown): string {
  const message =
    String((err as Error)?.message ?? err)
      .split("\n")
      .filter(Boolean)[0] ?? "unknown error";
  if (err instanceof SimdnetError) return `simdnet: ${message}`;
  const code = (err as { code?: string })?.code;
  return `simdnet: ${code ? "" : "internal error: "}${message}${process.env.SIMDNET_DEBUG ? "" : " (SIMDNET_DEBUG=1 shows the stack)"}`;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(errorLine(err));
    if (process.env.SIMDNET_DEBUG && err instanceof Error && err.stack) console.error(err.stack);
    process.exit(1);
  },
);
