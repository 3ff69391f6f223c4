// `simdnet train --data photos/` for a class-per-folder tree of PNG / JPEG files: a zoo model, or
// transfer learning from --init weights (a zoo model's .safetensors, or an .onnx file) with the
// classifier head replaced for the folder's classes and the layers up to --freeze-until frozen.
// A fifth of the images (seeded) is held out to report validation accuracy every epoch.
import { existsSync } from "node:fs";
import { basename } from "node:path";
import { init } from "../engine.js";
import { SimdnetError } from "../errors.js";
import { listImageFolder, loadImageFolder } from "../data/images.js";
import { shuffledIndices, type Normalization } from "../data/batches.js";
import { decodeSafetensors } from "../io/safetensors.js";
import { compileGraph } from "../model/graph.js";
import { createModel, type Model } from "../model/model.js";
import { loadWeights, saveWeights } from "../model/weights.js";
import { importOnnxModel } from "../onnx/to-model.js";
import { fit } from "../train/fit.js";
import { Adam } from "../train/optimizers.js";
import { transferModel } from "../train/transfer.js";
import type { BuildName } from "../runtime.js";
import { zooSpec } from "./zoo-registry.js";
import { checkOutputPath, readInput, writeFileAtomic } from "./files.js";

type Flags = Record<string, string | boolean | undefined>;

/** True when `dir` is an MNIST-format IDX folder (the other train path), not a folder of classes. */
export const isIdxFolder = (dir: string): boolean => existsSync(`${dir}/train-images-idx3-ubyte.gz`) || existsSync(`${dir}/train-images-idx3-ubyte`);

/** ImageNet's per-channel statistics, what pretrained RGB models expect. */
const IMAGENET: Normalization = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/** The model to start from: an imported ONNX file, a zoo model with --init weights, or a fresh zoo model. */
function sourceModel(
  e: Awaited<ReturnType<typeof init>>,
  modelName: string,
  initFile: string | undefined,
  inputSize: number | undefined,
  classes: number,
): { model: Model; from: string } {
  if (initFile === undefined) {
    return { model: createModel(e, zooSpec(modelName, { classes, inputSize, channels: 3 }), { seed: 1 }), from: `a fresh ${modelName}` };
  }
  if (!existsSync(initFile)) throw new SimdnetError(`--init: ${initFile} does not exist`);
  const bytes = readInput(initFile, "--init");
  if (initFile.toLowerCase().endsWith(".onnx")) return { model: importOnnxModel(e, bytes), from: initFile };
  // a zoo model's weights: its head's size in the file fixes the source's class count
  const probe = compileGraph(zooSpec(modelName, { classes: 2, inputSize, channels: 3 }));
  const head = probe.outputs[0]!;
  const headBias = decodeSafetensors(bytes).tensors[`${head}.bias`] ?? decodeSafetensors(bytes).tensors[`${head}.weight`];
  if (!headBias) throw new SimdnetError(`--init: ${initFile} has no tensor '${head}.bias' or '${head}.weight': not ${modelName} weights`);
  const sourceClasses = headBias.shape[headBias.shape.length - 1]!;
  const model = createModel(e, zooSpec(modelName, { classes: sourceClasses, inputSize, channels: 3 }), { seed: 1 });
  try {
    loadWeights(model, bytes);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { model, from: initFile };
}

export async function trainFolder(
  flags: Flags,
  options: { epochs: number; batchSize: number; seed: number; lr: number; build: "auto" | BuildName; inputSize?: number },
): Promise<void> {
  const dir = String(flags.data);
  const modelName = (flags.model as string | undefined) ?? "resnet18";
  const out = (flags.out as string | undefined) ?? `${modelName}-${basename(dir.replace(/\/+$/, ""))}.safetensors`;
  checkOutputPath(out, "--out"); // before training, not after
  const e = await init({ build: options.build });
  // the folder's classes first (the head's size), then the images at the model's input size
  const { classes } = await listImageFolder(dir);
  const { model: source, from } = sourceModel(e, modelName, flags.init as string | undefined, options.inputSize, classes.length);
  let model: Model;
  try {
    model = transferModel(source, { classes: classes.length, freezeUntil: flags["freeze-until"] as string | undefined, seed: options.seed });
  } finally {
    source.dispose();
  }
  const [H, W, C] = model.graph.inputs[0]!.shape as [number, number, number];
  if (C !== 3 && C !== 1) throw new SimdnetError(`the model takes ${C}-channel images; a folder of photos gives 1 or 3`);
  const data = await loadImageFolder(dir, { size: [H, W], channels: C, classes });
  const frozen = model.parameters().filter((p) => p.frozen).length,
    all = model.parameters().length;
  console.log(
    `simdnet train: ${basename(dir)}: ${data.shape[0]} images in ${classes.length} classes (${classes.join(", ")}), resized to ${H}x${W}x${C}; ` +
      `from ${from}, a new ${classes.length}-class head, ` +
      `${frozen} of ${all} parameter tensors frozen${flags["freeze-until"] ? ` (up to ${flags["freeze-until"]})` : ""}; wasm build '${e.build}'`,
  );

  // hold out a fifth (at least one image) for validation
  const n = data.shape[0],
    per = H * W * C;
  const order = shuffledIndices(n, options.seed);
  const held = n >= 5 ? Math.max(1, Math.floor(n / 5)) : 0;
  const pick = (idx: Int32Array) => {
    const x = new Uint8Array(idx.length * per);
    idx.forEach((i, k) => x.set(data.x.subarray(i * per, (i + 1) * per), k * per));
    return { x, shape: [idx.length, H, W, C], labels: Int32Array.from(idx, (i) => data.labels[i]!) };
  };
  const train = pick(order.subarray(held)),
    validation = held > 0 ? pick(order.subarray(0, held)) : undefined;
  const normalize = C === 3 ? IMAGENET : "unit";
  const batchSize = Math.min(options.batchSize, train.shape[0]!);
  fit(model, train, {
    epochs: options.epochs,
    batchSize,
    optimizer: new Adam({ lr: options.lr }),
    seed: options.seed,
    normalize,
    validation,
    augment: { flip: flags.flip !== "off" },
    onEpoch: (info) => {
      console.log(
        `epoch ${info.epoch}/${options.epochs}: loss ${info.loss.toFixed(4)}, training accuracy ${(100 * (info.accuracy ?? 0)).toFixed(2)}%` +
          (info.validation ? `, validation accuracy ${(100 * (info.validation.accuracy ?? 0)).toFixed(2)}% on ${held} images` : "") +
          `, ${info.seconds.toFixed(1)} s`,
      );
    },
  });
  writeFileAtomic(
    out,
    saveWeights(model, { model: modelName, classes: JSON.stringify(classes), inputSize: `${H}x${W}x${C}`, normalize: JSON.stringify(normalize) }),
    "--out",
  );
  console.log(`weights saved to ${out}`);
  model.dispose();
}
