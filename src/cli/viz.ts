// `simdnet viz <what>`: the visualisations of src/viz written as PNG files, for a zoo model with
// saved weights (default LeNet-5 from `simdnet train`) on the embedded Fashion-MNIST test images or
// on a PNG of the model's input size.
import { parseArgs } from "node:util";
import { init } from "../engine.js";
import { SimdnetError } from "../errors.js";
import { toFloatImages } from "../data/batches.js";
import { FASHION_MNIST_CLASSES, type LabeledImages, loadEmbedded, loadMnistLike } from "../data/mnist.js";
import { createModel, type Model } from "../model/model.js";
import { loadWeights } from "../model/weights.js";
import type { BuildName } from "../runtime.js";
import {
  activationGrid,
  classModel,
  computeCodes,
  encodePng,
  filterGrid,
  guidedBackprop,
  hwcToImage,
  imageGrid,
  mapToImage,
  nearestNeighbours,
  neighbourGrid,
  type RgbImage,
  saliency,
  scatterImage,
  tsne,
  upscale,
} from "../viz/index.js";
import { zooSpec } from "./zoo-registry.js";
import { checkOutputPath, readInput, readPng, writeFileAtomic } from "./files.js";

export const VIZ_KINDS = ["filters", "activations", "saliency", "guided", "class-model", "neighbours", "tsne"] as const;

export const VIZ_USAGE = `  simdnet viz ${VIZ_KINDS.join("|")} --weights FILE [--model lenet5] [--out FILE.png]
              [--image FILE.png | --index N] [--class K] [--layer NAME] [--data DIR] [--build B]
              [--steps 200] [--lr 0.05] [--l2 0.02] [--count 500] [--queries 6] [--k 8] [--points] [--seed 1]
      Writes a PNG: the first layer's filters; the activation maps of --layer (default the first
      conv) for an image; the saliency map (Simonyan et al. 2014) of --class (default the predicted
      one); guided backpropagation (Springenberg et al. 2015) from a --layer neuron or the class
      score; the class model by regularised gradient ascent (jitter, blur, decay and clipping of
      small contributions, Yosinski et al. 2015); nearest neighbours in the penultimate layer
      ("CNN code") for --queries test images among --count; a t-SNE of --count codes as thumbnails
      (or coloured --points). Images: --index into the test set (embedded or --data), or --image.
`;

type Flags = Record<string, string | boolean | undefined>;
const STRING_FLAGS = ["weights", "model", "out", "image", "index", "class", "layer", "data", "build", "steps", "lr", "l2", "count", "queries", "k", "seed"];

function intFlag(flags: Flags, name: string, fallback: number, min = 1): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new SimdnetError(`--${name} must be an integer >= ${min}, got '${v}'`);
  return n;
}

function numFlag(flags: Flags, name: string, fallback: number): number {
  const v = flags[name];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new SimdnetError(`--${name} must be a non-negative number, got '${v}'`);
  return n;
}

/** One PNG as a grey image of bytes (colour averaged), checked against the expected size. */
function readGreyPng(file: string, height: number, width: number): Uint8Array {
  const png = readPng(file, "--image");
  if (png.width !== width || png.height !== height) throw new SimdnetError(`viz: ${file} is ${png.width}x${png.height}, the model takes ${width}x${height}`);
  const grey = new Uint8Array(width * height),
    colour = png.channels >= 3 ? 3 : 1,
    scale = png.data instanceof Uint16Array ? 1 / 257 : 1;
  for (let p = 0; p < width * height; p++) {
    let s = 0;
    for (let c = 0; c < colour; c++) s += png.data[p * png.channels + c]!;
    grey[p] = Math.round((s / colour) * scale);
  }
  return grey;
}

const argmax = (v: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
};

const className = (k: number) => `${k}${FASHION_MNIST_CLASSES[k] ? ` (${FASHION_MNIST_CLASSES[k]})` : ""}`;

/** Runs `simdnet viz ...` with the arguments after "viz"; returns the exit code. */
export async function vizCommand(args: string[]): Promise<number> {
  const options: Record<string, { type: "string" | "boolean" }> = Object.fromEntries(STRING_FLAGS.map((n) => [n, { type: "string" as const }]));
  options.points = { type: "boolean" };
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options });
  } catch (err) {
    throw new SimdnetError(`viz: ${(err as Error).message.replace(/\s*\n\s*/g, " ")}`);
  }
  const flags: Flags = parsed.values,
    positionals = parsed.positionals;
  const kind = positionals[0];
  if (!kind || !(VIZ_KINDS as readonly string[]).includes(kind))
    throw new SimdnetError(`viz needs one of ${VIZ_KINDS.join(", ")}${kind ? `, got '${kind}'` : ""} (simdnet help shows the usage)`);
  if (positionals.length > 1) throw new SimdnetError(`viz ${kind} takes no further arguments, got '${positionals[1]}'`);
  const weights = flags.weights as string | undefined;
  if (!weights) throw new SimdnetError("viz needs --weights FILE (written by simdnet train)");
  const build = (flags.build as string | undefined) ?? "auto";
  if (!["auto", "scalar", "simd", "relaxed"].includes(build)) throw new SimdnetError(`--build must be auto, scalar, simd or relaxed, got '${build}'`);
  const out = (flags.out as string | undefined) ?? `${kind}.png`;
  checkOutputPath(out, "--out");
  const modelName = (flags.model as string | undefined) ?? "lenet5";

  const data = flags.data ? await loadMnistLike(String(flags.data)) : await loadEmbedded();
  const test: LabeledImages = data.test;
  const [H, W] = [test.height, test.width];
  const e = await init({ build: build as "auto" | BuildName });
  const model: Model = createModel(e, zooSpec(modelName, { classes: 10, channels: 1, inputSize: H }), { seed: 1 });
  const meta = loadWeights(model, readInput(weights, "--weights"));
  const imageFlag = flags.image as string | undefined;
  const index = intFlag(flags, "index", 0, 0);
  if (index >= test.count) throw new SimdnetError(`--index must be below ${test.count} (test images)`);
  const image = imageFlag
    ? toFloatImages({ images: readGreyPng(imageFlag, H, W), labels: new Uint8Array(1), count: 1, height: H, width: W })
    : toFloatImages(test, "unit", [index]);
  const label = imageFlag ? undefined : test.labels[index]!;
  const what = imageFlag ?? `test image #${index} (label ${className(label!)})`;
  const inputTile = () => hwcToImage(image, H, W, 1, { range: [0, 1] });
  const predicted = () => {
    model.plan(1);
    return argmax(model.forward(image).data);
  };
  const classFlag = flags.class === undefined ? undefined : intFlag(flags, "class", 0, 0);

  let img: RgbImage;
  let note: string;
  switch (kind) {
    case "filters": {
      img = filterGrid(model, { layer: flags.layer as string | undefined, scale: 12, gap: 3 });
      note = `filters of ${(flags.layer as string | undefined) ?? "the first conv layer"}`;
      break;
    }
    case "activations": {
      const layer = (flags.layer as string | undefined) ?? model.graph.nodes.find((n) => n.type === "conv")!.name;
      img = imageGrid([upscale(inputTile(), 2), activationGrid(model, image, layer, { gap: 2 })], { columns: 2, gap: 4 });
      note = `activations of ${layer} for ${what}`;
      break;
    }
    case "saliency": {
      const k = classFlag ?? predicted();
      const r = saliency(model, image, k);
      img = imageGrid([inputTile(), mapToImage(r.map, W, H, { colorMap: "heat" })], { columns: 2, scale: 6, gap: 4 });
      note = `saliency of class ${className(k)} for ${what} (score ${r.scores[k]!.toFixed(3)})`;
      break;
    }
    case "guided": {
      const layer = flags.layer as string | undefined;
      const r = guidedBackprop(model, image, { layer, channel: layer ? classFlag : (classFlag ?? predicted()) });
      img = imageGrid([inputTile(), mapToImage(r.gradient, W, H, { colorMap: "signed" }), mapToImage(r.map, W, H, { colorMap: "heat" })], {
        columns: 3,
        scale: 6,
        gap: 4,
      });
      note = `guided backpropagation from ${r.neuron.layer} channel ${r.neuron.channel} (element ${r.neuron.index}, activation ${r.neuron.value.toFixed(3)}) for ${what}`;
      break;
    }
    case "class-model": {
      const classes = classFlag === undefined ? Array.from({ length: 10 }, (_, k) => k) : [classFlag];
      // the images' range in the model's input units: pixels 0..1, normalised as in training when
      // the weights say how (simdnet train saves inputMean / inputStd)
      const mean = Number(meta.inputMean ?? 0),
        std = Number(meta.inputStd ?? 1);
      const range: [number, number] = Number.isFinite(mean) && std > 0 ? [(0 - mean) / std, (1 - mean) / std] : [0, 1];
      const opts = {
        steps: intFlag(flags, "steps", 200, 0),
        lr: flags.lr === undefined ? undefined : numFlag(flags, "lr", 0.05),
        l2: flags.l2 === undefined ? undefined : numFlag(flags, "l2", 0.02),
        range,
      };
      const tiles = classes.map((k) => {
        const r = classModel(model, k, opts);
        console.log(`class ${className(k)}: score ${r.scores[0]!.toFixed(3)} -> ${r.scores.at(-1)!.toFixed(3)}`);
        return hwcToImage(r.image, H, W, 1);
      });
      img = imageGrid(tiles, { columns: Math.min(5, tiles.length), scale: 4, gap: 4 });
      note = `class model${classes.length > 1 ? "s of every class" : ` of class ${className(classes[0]!)}`} (${opts.steps} steps of regularised ascent${opts.lr === undefined ? "" : `, lr ${opts.lr}`}${opts.l2 === undefined ? "" : `, l2 ${opts.l2}`})`;
      break;
    }
    case "neighbours": {
      const count = Math.min(intFlag(flags, "count", 500), test.count),
        q = Math.min(intFlag(flags, "queries", 6), count),
        k = intFlag(flags, "k", 8);
      const images = toFloatImages(
        test,
        "unit",
        Array.from({ length: count }, (_, i) => i),
      );
      const { codes, dim } = computeCodes(model, images);
      const queries = Array.from({ length: q }, (_, i) => Math.floor((i * count) / q));
      const qCodes = new Float32Array(q * dim);
      queries.forEach((qi, i) => qCodes.set(codes.subarray(qi * dim, (qi + 1) * dim), i * dim));
      const nb = nearestNeighbours(codes, qCodes, dim, k, queries);
      const agree = nb.flat().filter((j, t) => test.labels[j] === test.labels[queries[Math.floor(t / k)]!]).length;
      img = neighbourGrid(images, [H, W, 1], queries, nb);
      note = `${k} nearest neighbours in the ${model.codeLayer} code (${dim} values) of ${q} queries among ${count} test images; ${agree}/${q * k} share the query's label`;
      break;
    }
    case "tsne": {
      const count = Math.min(intFlag(flags, "count", 500), test.count);
      const images = toFloatImages(
        test,
        "unit",
        Array.from({ length: count }, (_, i) => i),
      );
      const { codes, dim } = computeCodes(model, images);
      const t0 = Date.now();
      const xy = tsne(codes, dim, { seed: intFlag(flags, "seed", 1), iterations: intFlag(flags, "steps", 500, 1) });
      console.log(`t-SNE of ${count} codes (${dim} values each) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      const labels = test.labels.subarray(0, count);
      img = flags.points
        ? scatterImage(xy, { labels, width: 700, height: 700, radius: 4 })
        : scatterImage(xy, {
            thumbnails: Array.from({ length: count }, (_, i) => hwcToImage(images.subarray(i * H * W, (i + 1) * H * W), H, W, 1, { range: [0, 1] })),
            width: 1200,
            height: 1200,
            margin: 20,
          });
      note = `t-SNE of the ${model.codeLayer} codes of ${count} test images${flags.points ? " (colour = label)" : ""}`;
      break;
    }
    default:
      throw new SimdnetError(`unknown viz '${kind}'`);
  }
  writeFileAtomic(out, encodePng(img), "--out");
  console.log(`${note}: ${out} (${img.width}x${img.height})`);
  return 0;
}
