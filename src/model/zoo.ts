// The model zoo: classic CNNs as plain-data specs (functions of input size and classes). Each
// returns a ModelSpec; build it with `new Model(engine, spec)` or inspect it with `summary(spec)`.
import type { AnyNodeSpec, GraphSpec, LayerSpec, SequentialSpec } from "./spec.js";

/** Options of the zoo's model builders: classes, input size and channels. */
export interface ZooOptions {
  /** Output classes (default 1000, LeNet-5 10). */
  classes?: number;
  /** Input height = width (defaults: the published size). */
  inputSize?: number;
  /** Input channels (default 3, LeNet-5 1). */
  channels?: number;
}

/**
 * LeNet-5 as commonly adapted for MNIST: 28x28x1, conv 5x5 pad 2 -> 6 (ReLU), max pool 2,
 * conv 5x5 -> 16 (ReLU), max pool 2, dense 120, 84 (ReLU), `classes`. 61,706 parameters for 10
 * classes (LeCun's original used a sparse C3 table and RBF outputs: ~60k).
 */
export function lenet5(options: ZooOptions & { activation?: "relu" | "tanh"; pool?: "max" | "avg" } = {}): SequentialSpec {
  const s = options.inputSize ?? 28,
    act = options.activation ?? "relu",
    mode = options.pool ?? "max";
  return {
    inputShape: [s, s, options.channels ?? 1],
    layers: [
      { type: "conv", filters: 6, size: 5, pad: 2, activation: act },
      { type: "pool", mode, size: 2, stride: 2 },
      { type: "conv", filters: 16, size: 5, activation: act },
      { type: "pool", mode, size: 2, stride: 2 },
      { type: "dense", units: 120, activation: act },
      { type: "dense", units: 84, activation: act },
      { type: "dense", units: options.classes ?? 10 },
    ],
  };
}

/**
 * AlexNet as in Caffe's bvlc_alexnet (the two-GPU net of Krizhevsky et al. 2012): 227x227x3,
 * LRN after conv1 and conv2, conv2/4/5 in 2 groups, dropout 0.5 in the classifier.
 * 60,965,224 parameters with 1000 classes; `groups: false` (one tower) gives 62,378,344.
 */
export function alexnet(options: ZooOptions & { groups?: boolean; dropout?: number } = {}): SequentialSpec {
  const s = options.inputSize ?? 227,
    g = options.groups === false ? 1 : 2,
    d = options.dropout ?? 0.5;
  const lrnSpec = { type: "lrn", size: 5, alpha: 1e-4, beta: 0.75, bias: 1 } as const;
  const layers: LayerSpec[] = [
    { type: "conv", filters: 96, size: 11, stride: 4, activation: "relu" },
    lrnSpec,
    { type: "pool", mode: "max", size: 3, stride: 2 },
    { type: "conv", filters: 256, size: 5, pad: 2, groups: g, activation: "relu" },
    lrnSpec,
    { type: "pool", mode: "max", size: 3, stride: 2 },
    { type: "conv", filters: 384, size: 3, pad: 1, activation: "relu" },
    { type: "conv", filters: 384, size: 3, pad: 1, groups: g, activation: "relu" },
    { type: "conv", filters: 256, size: 3, pad: 1, groups: g, activation: "relu" },
    { type: "pool", mode: "max", size: 3, stride: 2 },
    { type: "dense", units: 4096, activation: "relu" },
    ...(d > 0 ? [{ type: "dropout", rate: d } as const] : []),
    { type: "dense", units: 4096, activation: "relu" },
    ...(d > 0 ? [{ type: "dropout", rate: d } as const] : []),
    { type: "dense", units: options.classes ?? 1000 },
  ];
  return { inputShape: [s, s, options.channels ?? 3], layers };
}

/**
 * VGG-16 (configuration D of Simonyan & Zisserman): 13 conv 3x3 pad 1 (ReLU) in 5 blocks with
 * max pool 2, then dense fcUnits, fcUnits (ReLU, dropout), classes. 138,357,544 parameters and
 * 15,237,608 activation values per image (input included; dropout runs in place) at 224x224x3.
 */
export function vgg16(options: ZooOptions & { fcUnits?: number; dropout?: number } = {}): SequentialSpec {
  const s = options.inputSize ?? 224,
    fc = options.fcUnits ?? 4096,
    d = options.dropout ?? 0.5;
  const layers: LayerSpec[] = [];
  for (const [filters, convs] of [
    [64, 2],
    [128, 2],
    [256, 3],
    [512, 3],
    [512, 3],
  ] as const) {
    for (let i = 0; i < convs; i++) layers.push({ type: "conv", filters, size: 3, pad: 1, activation: "relu" });
    layers.push({ type: "pool", mode: "max", size: 2, stride: 2 });
  }
  for (let i = 0; i < 2; i++) {
    layers.push({ type: "dense", units: fc, activation: "relu" });
    if (d > 0) layers.push({ type: "dropout", rate: d });
  }
  layers.push({ type: "dense", units: options.classes ?? 1000 });
  return { inputShape: [s, s, options.channels ?? 3], layers };
}

/** Filter counts of one Inception module: 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool projection. */
export type InceptionConfig = [n1x1: number, n3x3red: number, n3x3: number, n5x5red: number, n5x5: number, poolProj: number];

/**
 * The nodes of an Inception (v1) module reading `input`: four parallel branches (1x1; 1x1 -> 3x3;
 * 1x1 -> 5x5; max pool 3x3/1 -> 1x1), each conv with ReLU, concatenated along channels into
 * `<name>/output`.
 */
export function inceptionModule(name: string, input: string, [a, b3r, b3, b5r, b5, pp]: InceptionConfig): AnyNodeSpec[] {
  const conv = (n: string, from: string, filters: number, size: number): AnyNodeSpec => ({
    name: `${name}/${n}`,
    inputs: [from],
    type: "conv",
    filters,
    size,
    pad: (size - 1) / 2,
    activation: "relu",
  });
  return [
    conv("1x1", input, a, 1),
    conv("3x3_reduce", input, b3r, 1),
    conv("3x3", `${name}/3x3_reduce`, b3, 3),
    conv("5x5_reduce", input, b5r, 1),
    conv("5x5", `${name}/5x5_reduce`, b5, 5),
    { name: `${name}/pool`, inputs: [input], type: "pool", mode: "max", size: 3, stride: 1, pad: 1 },
    conv("pool_proj", `${name}/pool`, pp, 1),
    { name: `${name}/output`, inputs: [`${name}/1x1`, `${name}/3x3`, `${name}/5x5`, `${name}/pool_proj`], type: "concat" },
  ];
}

/** The module table of GoogLeNet (Szegedy et al. 2014, Table 1). */
export const GOOGLENET_MODULES: Record<string, InceptionConfig> = {
  "3a": [64, 96, 128, 16, 32, 32],
  "3b": [128, 128, 192, 32, 96, 64],
  "4a": [192, 96, 208, 16, 48, 64],
  "4b": [160, 112, 224, 24, 64, 64],
  "4c": [128, 128, 256, 24, 64, 64],
  "4d": [112, 144, 288, 32, 64, 64],
  "4e": [256, 160, 320, 32, 128, 128],
  "5a": [256, 160, 320, 32, 128, 128],
  "5b": [384, 192, 384, 48, 128, 128],
};

/**
 * GoogLeNet / Inception v1 as in the paper and Caffe's bvlc_googlenet, without the two auxiliary
 * classifiers: conv 7x7/2, max pool, LRN, conv 1x1 + 3x3, LRN, max pool, 9 Inception modules
 * (max pools after 3b and 4e; Caffe's ceil-mode pooling), global average pool, dropout 0.4,
 * dense. Conv layers have biases and no batch norm: 6,998,552 parameters with 1000 classes
 * (torchvision's batch-norm variant without aux heads has 6,624,904).
 */
export function googlenet(options: ZooOptions & { dropout?: number } = {}): GraphSpec {
  const s = options.inputSize ?? 224,
    d = options.dropout ?? 0.4;
  const nodes: AnyNodeSpec[] = [];
  let prev = "input";
  const push = (n: Record<string, unknown> & { name: string; type: string }) => {
    nodes.push({ ...n, inputs: [prev] } as AnyNodeSpec);
    prev = n.name;
  };
  const maxpool = (name: string) => push({ name, type: "pool", mode: "max", size: 3, stride: 2, ceil: true });
  push({ name: "conv1/7x7_s2", type: "conv", filters: 64, size: 7, stride: 2, pad: 3, activation: "relu" });
  maxpool("pool1/3x3_s2");
  push({ name: "pool1/norm1", type: "lrn", size: 5, alpha: 1e-4, beta: 0.75 });
  push({ name: "conv2/3x3_reduce", type: "conv", filters: 64, size: 1, activation: "relu" });
  push({ name: "conv2/3x3", type: "conv", filters: 192, size: 3, pad: 1, activation: "relu" });
  push({ name: "conv2/norm2", type: "lrn", size: 5, alpha: 1e-4, beta: 0.75 });
  maxpool("pool2/3x3_s2");
  for (const m of ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"]) {
    const name = `inception_${m}`;
    nodes.push(...inceptionModule(name, prev, GOOGLENET_MODULES[m]!));
    prev = `${name}/output`;
    if (m === "3b") maxpool("pool3/3x3_s2");
    if (m === "4e") maxpool("pool4/3x3_s2");
  }
  push({ name: "pool5", type: "globalPool", mode: "avg" });
  if (d > 0) push({ name: "pool5/drop", type: "dropout", rate: d });
  push({ name: "loss3/classifier", type: "dense", units: options.classes ?? 1000 });
  return { inputs: [{ name: "input", shape: [s, s, options.channels ?? 3] }], nodes, outputs: [prev] };
}

/**
 * A residual block (He et al. 2016) reading `input` with `cin` channels, output `<name>/out`:
 * basic: conv3x3(stride)-BN-ReLU-conv3x3-BN; bottleneck: conv1x1-BN-ReLU-conv3x3(stride)-BN-ReLU-
 * conv1x1(4x)-BN (stride on the 3x3, "ResNet v1.5" as torchvision). The shortcut is the identity,
 * or a projection conv1x1(stride)-BN when the stride or the channel count changes. Add, then ReLU.
 * Convs have no bias (batch norm follows). Returns the nodes and the output channel count.
 */
export function residualBlock(
  name: string,
  input: string,
  cin: number,
  width: number,
  stride: number,
  bottleneck: boolean,
): { nodes: AnyNodeSpec[]; channels: number } {
  const nodes: AnyNodeSpec[] = [];
  let prev = input;
  const convBn = (n: string, filters: number, size: number, s: number, relu: boolean, from = prev): string => {
    nodes.push({ name: `${name}/${n}`, inputs: [from], type: "conv", filters, size, stride: s, pad: (size - 1) / 2, bias: false });
    nodes.push({ name: `${name}/${n}_bn`, inputs: [`${name}/${n}`], type: "batchNorm", ...(relu ? { activation: "relu" } : {}) });
    return `${name}/${n}_bn`;
  };
  const cout = bottleneck ? 4 * width : width;
  if (bottleneck) {
    prev = convBn("conv1", width, 1, 1, true);
    prev = convBn("conv2", width, 3, stride, true);
    prev = convBn("conv3", cout, 1, 1, false);
  } else {
    prev = convBn("conv1", width, 3, stride, true);
    prev = convBn("conv2", width, 3, 1, false);
  }
  const shortcut = stride !== 1 || cin !== cout ? convBn("downsample", cout, 1, stride, false, input) : input;
  nodes.push({ name: `${name}/out`, inputs: [prev, shortcut], type: "add", activation: "relu" });
  return { nodes, channels: cout };
}

function resnet(blocks: number[], bottleneck: boolean, options: ZooOptions): GraphSpec {
  const s = options.inputSize ?? 224;
  const nodes: AnyNodeSpec[] = [
    { name: "conv1", inputs: ["input"], type: "conv", filters: 64, size: 7, stride: 2, pad: 3, bias: false },
    { name: "bn1", inputs: ["conv1"], type: "batchNorm", activation: "relu" },
    { name: "maxpool", inputs: ["bn1"], type: "pool", mode: "max", size: 3, stride: 2, pad: 1 },
  ];
  let prev = "maxpool",
    channels = 64;
  blocks.forEach((count, stage) => {
    for (let b = 0; b < count; b++) {
      const r = residualBlock(`layer${stage + 1}.${b}`, prev, channels, 64 << stage, b === 0 && stage > 0 ? 2 : 1, bottleneck);
      nodes.push(...r.nodes);
      prev = `layer${stage + 1}.${b}/out`;
      channels = r.channels;
    }
  });
  nodes.push({ name: "avgpool", inputs: [prev], type: "globalPool", mode: "avg" });
  nodes.push({ name: "fc", inputs: ["avgpool"], type: "dense", units: options.classes ?? 1000 });
  return { inputs: [{ name: "input", shape: [s, s, options.channels ?? 3] }], nodes, outputs: ["fc"] };
}

/** ResNet-18 (basic blocks [2,2,2,2]), torchvision layout: 11,689,512 parameters with 1000 classes. */
export const resnet18 = (options: ZooOptions = {}): GraphSpec => resnet([2, 2, 2, 2], false, options);

/** ResNet-50 (bottleneck blocks [3,4,6,3]), torchvision layout: 25,557,032 parameters with 1000 classes. */
export const resnet50 = (options: ZooOptions = {}): GraphSpec => resnet([3, 4, 6, 3], true, options);

/**
 * A small fully convolutional segmentation net (U-Net-like): two conv+pool stages down, two
 * transposed convs (4x4, stride 2, pad 1) up with a skip concat from the first stage, and a 1x1
 * conv to `classes` logits per pixel: [H, W, classes] for an [H, W, C] input (H, W multiples of 4).
 */
export function segnet(options: ZooOptions & { width?: number } = {}): GraphSpec {
  const s = options.inputSize ?? 64,
    w = options.width ?? 16;
  const n = (name: string, inputs: string[], spec: Record<string, unknown>): AnyNodeSpec => ({ name, inputs, ...spec }) as AnyNodeSpec;
  const nodes = [
    n("enc1", ["input"], { type: "conv", filters: w, size: 3, pad: 1, activation: "relu" }),
    n("pool1", ["enc1"], { type: "pool", mode: "max", size: 2 }),
    n("enc2", ["pool1"], { type: "conv", filters: 2 * w, size: 3, pad: 1, activation: "relu" }),
    n("pool2", ["enc2"], { type: "pool", mode: "max", size: 2 }),
    n("bottleneck", ["pool2"], { type: "conv", filters: 2 * w, size: 3, pad: 1, activation: "relu" }),
    n("up1", ["bottleneck"], { type: "convTranspose", filters: 2 * w, size: 4, stride: 2, pad: 1, activation: "relu" }),
    n("up2", ["up1"], { type: "convTranspose", filters: w, size: 4, stride: 2, pad: 1, activation: "relu" }),
    n("skip", ["up2", "enc1"], { type: "concat" }),
    n("head", ["skip"], { type: "conv", filters: w, size: 3, pad: 1, activation: "relu" }),
    n("logits", ["head"], { type: "conv", filters: options.classes ?? 2, size: 1 }),
  ];
  return { inputs: [{ name: "input", shape: [s, s, options.channels ?? 3] }], nodes, outputs: ["logits"] };
}
