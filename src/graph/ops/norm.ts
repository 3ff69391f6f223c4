// Normalisations on assembly/norm.ts (and batchnorm.ts): BatchNormalization (channels-last or
// ONNX order, any rank >= 2), LayerNormalization (with its Mean / InvStdDev outputs),
// InstanceNormalization (channels-last or ONNX order), GroupNormalization, LpNormalization and
// MeanVarianceNormalization. Each takes its input in the axis order it has where a kernel reads
// that order, so a value a Conv left channels-last is not transposed first.
import { fail, fmtShape } from "../../errors.js";
import { contiguousStrides, ND_DESC_BYTES, writeNd } from "../nd.js";
import { type BoundNode, type InferContext, type LayoutChoice, type PlanNode, type PlanValue, registerOp, type TensorType } from "../registry.js";
import { identityPerm, isFloat, logicalStrides, type Perm, samePhysical, sizeOfDims } from "../types.js";
import { zeroOutput } from "./grad.js";
import { axisView } from "./reduce.js";
import { channelsLast, normAxis } from "./util.js";

const floatInput = (c: InferContext<unknown>, i: number, name: string): TensorType => {
  const t = c.need(i, name);
  if (!isFloat(t.dataType)) c.fail(`${name} must be a float tensor`);
  return t;
};

const failer = (where: string) => ({ fail: (m: string): never => fail(where, m) });

/** Whether value v lies as channels-last [N, ...spatial, C] (rank >= 2). */
const isChannelsLast = (v: { shape: readonly number[]; perm: Perm }) => samePhysical(v.perm, channelsLast(v.shape.length), v.shape);
const isOnnxOrder = (v: { shape: readonly number[]; perm: Perm }) => samePhysical(v.perm, identityPerm(v.shape.length), v.shape);

/**
 * Writes at `desc` the copy_nd loop that lays `src` (any perm; shape broadcastable to `shape`,
 * aligned at the trailing axes) out contiguous in `shape` read through `perm`.
 */
function expandInto(n: BoundNode<unknown>, desc: number, src: PlanValue, shape: readonly number[], perm: Perm): void {
  const dims = perm.map((a) => shape[a]!),
    off = shape.length - src.shape.length;
  const ss = logicalStrides(src.shape, src.perm);
  const along = (a: number) => (a < off || src.shape[a - off] === 1 ? 0 : ss[a - off]!);
  writeNd(n.engine.heap.i32, desc, { dims, strides: [contiguousStrides(dims), perm.map(along)] }, n.where);
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization (inference)

interface BnAttrs {
  epsilon: number;
}

registerOp<BnAttrs>({
  type: "BatchNormalization",
  nonTrainable: [3, 4],
  parse(at) {
    if (at.int("training_mode", 0) !== 0) fail(at.where, "training_mode 1 is not supported by inference (fine-tune the model instead)");
    return { epsilon: at.float("epsilon", 1e-5) };
  },
  infer(c) {
    const x = floatInput(c, 0, "X");
    if (x.shape.length < 2) c.fail(`expects [N, C, ...], got ${fmtShape(x.shape)}`);
    if (c.wants(1) || c.wants(2)) c.fail("the running mean / variance outputs (training) are not supported");
    const C = x.shape[1]!;
    ["scale", "B", "mean", "var"].forEach((name, k) => {
      const t = c.need(k + 1, name);
      if (t.shape.length !== 1 || t.shape[0] !== C) c.fail(`${name} must have shape [${C}], got ${fmtShape(t.shape)}`);
    });
    return [x];
  },
  // a value in ONNX order stays so (rows of S per channel); anything else goes channels-last
  layout(c): LayoutChoice {
    const x = c.inputs[0]!,
      r = x.shape.length;
    const p = r > 2 && isOnnxOrder(x) && !isChannelsLast(x) ? identityPerm(r) : channelsLast(r);
    return { inputs: c.inputs.map((v, i) => (i === 0 ? p : v ? identityPerm(v.shape.length) : "any")), outputs: [p] };
  },
  // inference-mode batch norm (nn.ts: BatchNormGradInput, BatchNormGradScale; BiasGrad)
  gradient(g) {
    const dy = g.dy(0)!,
      x = g.x(0)!,
      scale = g.x(1)!,
      mean = g.x(3)!,
      variance = g.x(4)!;
    if (g.wants(0)) g.add(0, g.op("BatchNormGradInput", [dy, scale, variance], g.attrs)[0]!);
    if (g.wants(1)) g.add(1, g.op("BatchNormGradScale", [dy, x, mean, variance], g.attrs)[0]!);
    if (g.wants(2)) g.add(2, g.op("BiasGrad", [dy])[0]!);
    // running statistics that depend on trained values (rare): per channel,
    // dmean = -scale / sqrt(var + eps) sum(dy), dvar = -scale / (2 (var + eps)) sum(dy (x - mean) / sqrt(var + eps))
    if (g.wants(3)) g.add(3, g.op("BatchNormStatGrad", [g.op("BiasGrad", [dy])[0]!, scale, variance], { ...g.attrs, which: 3 })[0]!);
    if (g.wants(4))
      g.add(4, g.op("BatchNormStatGrad", [g.op("BatchNormGradScale", [dy, x, mean, variance], g.attrs)[0]!, scale, variance], { ...g.attrs, which: 4 })[0]!);
  },
  algorithms: [
    {
      name: "batchNormalization.inference",
      eligible: (n) => isChannelsLast(n.inputs[0]!),
      workspaceBytes: (n) => 4 * n.inputs[0]!.shape[1]!,
      setup(n) {
        const X = n.inputs[0]!,
          C = X.shape[1]!,
          rows = X.size / Math.max(1, C);
        const k = n.kernels,
          eps = n.attrs.epsilon;
        const y = n.output(0),
          x = n.input(0),
          scale = n.input(1),
          bias = n.input(2),
          mean = n.input(3),
          variance = n.input(4),
          ws = n.workspace;
        return () => k.batchnorm_f32_inference(y, x, scale, bias, mean, variance, ws, eps, rows, C);
      },
    },
    {
      name: "batchNormalization.onnxOrder",
      setup(n) {
        const X = n.inputs[0]!,
          N = X.shape[0]!,
          C = X.shape[1]!,
          S = sizeOfDims(X.shape.slice(2));
        const k = n.kernels,
          eps = n.attrs.epsilon;
        const y = n.output(0),
          x = n.input(0),
          scale = n.input(1),
          bias = n.input(2),
          mean = n.input(3),
          variance = n.input(4);
        return () => k.batchnorm_ncs_f32_inference(y, x, scale, bias, mean, variance, eps, N, C, S);
      },
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// ImageScaler (opsets 1-9, experimental, still in older exported files: y = scale x + bias[c] on
// [N, C, H, W]), run as an inference batch norm whose parameters (scale, bias, mean 0, variance 1,
// epsilon 0) lie in the node's params: [C] floats each, then the kernels' workspace.

interface ImageScalerAttrs {
  scale: number;
  bias: number[];
}

// The gradient of an inference batch norm's mean (which 3) or variance (which 4) from a per-channel
// sum s [C] (of dy for the mean, BatchNormGradScale's for the variance), scale and var [C]:
// -s scale / sqrt(var + eps), or -s scale / (2 (var + eps)). A host loop over C values.
registerOp<BnAttrs & { which: 3 | 4 }>({
  type: "BatchNormStatGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => [c.need(0, "sum")],
  algorithms: [
    {
      name: "batchNormStatGrad.host",
      setup(n) {
        const heap = n.engine.heap,
          s = n.input(0) >> 2,
          scale = n.input(1) >> 2,
          variance = n.input(2) >> 2,
          out = n.output(0) >> 2,
          C = n.outputs[0]!.size,
          eps = n.attrs.epsilon,
          mean = n.attrs.which === 3;
        return () => {
          const f32 = heap.f32;
          for (let c = 0; c < C; c++) {
            const v = f32[variance + c]! + eps;
            f32[out + c] = (-f32[s + c]! * f32[scale + c]!) / (mean ? Math.sqrt(v) : 2 * v);
          }
        };
      },
    },
  ],
});

registerOp<ImageScalerAttrs>({
  type: "ImageScaler",
  parse: (at) => ({ scale: at.float("scale", 1), bias: at.floats("bias") ?? [] }),
  infer(c) {
    const x = floatInput(c, 0, "input");
    if (x.shape.length !== 4) c.fail(`expects [N, C, H, W], got ${fmtShape(x.shape)}`);
    const C = x.shape[1]!;
    if (c.attrs.bias.length !== 0 && c.attrs.bias.length !== C) c.fail(`bias has ${c.attrs.bias.length} values for ${C} channels`);
    return [x];
  },
  layout(c): LayoutChoice {
    const x = c.inputs[0]!;
    const p = isOnnxOrder(x) && !isChannelsLast(x) ? identityPerm(4) : channelsLast(4);
    return { inputs: [p], outputs: [p] };
  },
  // dx = scale dy
  gradient(g) {
    if (g.wants(0)) g.add(0, g.op("Scale", [g.dy(0)!], { alpha: g.attrs.scale })[0]!);
  },
  algorithms: [
    {
      name: "imageScaler.batchNorm",
      paramBytes: (n) => 16 * n.inputs[0]!.shape[1]!,
      workspaceBytes: (n) => 4 * n.inputs[0]!.shape[1]!,
      setup(n) {
        const X = n.inputs[0]!,
          [N, C, H, W] = X.shape as [number, number, number, number];
        const k = n.kernels,
          y = n.output(0),
          x = n.input(0),
          ws = n.workspace;
        const scale = n.params,
          bias = scale + 4 * C,
          mean = bias + 4 * C,
          variance = mean + 4 * C;
        const f32 = n.engine.heap.f32;
        for (let c = 0; c < C; c++) {
          f32[(scale >> 2) + c] = n.attrs.scale;
          f32[(bias >> 2) + c] = n.attrs.bias[c] ?? 0;
          f32[(mean >> 2) + c] = 0;
          f32[(variance >> 2) + c] = 1;
        }
        if (isChannelsLast(X)) return () => k.batchnorm_f32_inference(y, x, scale, bias, mean, variance, ws, 0, N * H * W, C);
        return () => k.batchnorm_ncs_f32_inference(y, x, scale, bias, mean, variance, 0, N, C, H * W);
      },
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// LayerNormalization

interface LnAttrs {
  axis: number;
  epsilon: number;
}

/** The normalised axes [axis, r) as they lie innermost in x's perm, relative to axis; undefined if they do not. */
function innerOrder(perm: Perm, axis: number): number[] | undefined {
  const r = perm.length,
    tail = perm.slice(axis);
  return tail.every((a) => a >= axis) ? tail.map((a) => a - axis) : (void r, undefined);
}

registerOp<LnAttrs>({
  type: "LayerNormalization",
  parse: (at) => ({ axis: at.int("axis", -1), epsilon: at.float("epsilon", 1e-5) }),
  infer(c) {
    const x = floatInput(c, 0, "X");
    const r = x.shape.length;
    const ax = normAxis(c, c.attrs.axis, r);
    const norm = x.shape.slice(ax);
    for (const [i, name] of [
      [1, "Scale"],
      [2, "B"],
    ] as const) {
      const t = c.input(i);
      if (i === 1 && !t) c.fail("input 1 (Scale) is required");
      if (!t) continue;
      const off = norm.length - t.shape.length;
      if (off < 0 || t.shape.some((d, k) => d !== 1 && d !== norm[k + off]))
        c.fail(`${name} ${fmtShape(t.shape)} does not broadcast to the normalised shape ${fmtShape(norm)}`);
    }
    const stats = x.shape.map((d, i) => (i < ax ? d : 1));
    return [x, { dataType: x.dataType, shape: stats }, { dataType: x.dataType, shape: stats }].slice(0, Math.max(1, c.outputCount));
  },
  layout(c) {
    const x = c.inputs[0]!,
      r = x.shape.length;
    const ax = normAxis(failer("LayerNormalization"), c.attrs.axis, r);
    const inner = innerOrder(x.perm, ax);
    const p = inner ? [...x.perm] : identityPerm(r);
    const q = inner ?? identityPerm(r - ax);
    return {
      inputs: c.inputs.map((v, i) => (i === 0 ? p : v && v.shape.length === r - ax && v.shape.every((d, k) => d === x.shape[ax + k]) ? q : "any")),
      outputs: c.outputs.map(() => p),
    };
  },
  // the forward planned again with its Mean and InvStdDev outputs, then LayerNormGrad per input
  // (a loss reading Mean or InvStdDev is refused by the planner: their gradients are not read)
  gradient(g) {
    const dy = g.dy(0),
      x = g.x(0)!,
      scale = g.x(1)!,
      bias = g.x(2);
    if (!dy) return;
    const norm = x.shape.slice(normAxis(failer(g.where), g.attrs.axis, x.shape.length));
    for (const v of [scale, bias])
      if (v && (v.shape.length !== norm.length || v.shape.some((d, k) => d !== norm[k])))
        fail(g.where, `training needs Scale and B of the normalised shape ${fmtShape(norm)}, got ${fmtShape(v.shape)}`);
    const [, mean, inv] = g.op("LayerNormalization", [x, scale, bias], g.attrs, 3);
    for (const wrt of [0, 1, 2]) if (g.wants(wrt)) g.add(wrt, g.op("LayerNormGrad", [dy, x, scale, mean, inv], { ...g.attrs, wrt })[0]!);
  },
  algorithms: [
    {
      name: "layerNormalization.rows",
      workspaceBytes: (n) => {
        const { cols } = lnGeometry(n);
        return 4 * cols * [1, 2].filter((i) => n.inputs[i] && !lnDirect(n, i)).length;
      },
      paramBytes: () => 2 * ND_DESC_BYTES,
      setup(n) {
        const { rows, cols, ax, q } = lnGeometry(n);
        const k = n.kernels,
          eps = n.attrs.epsilon;
        const y = n.output(0),
          x = n.input(0);
        const mean = n.outputs[1]?.name ? n.output(1) : 0,
          inv = n.outputs[2]?.name ? n.output(2) : 0;
        const norm = n.inputs[0]!.shape.slice(ax);
        // Scale and B read directly when they lie as the normalised axes do, else expanded each run
        const expand: [number, number, number][] = [];
        let slot = 0;
        const operand = (i: number): number => {
          if (!n.inputs[i]) return 0;
          if (lnDirect(n, i)) return n.input(i);
          const dst = n.workspace + 4 * cols * slot,
            desc = n.params + ND_DESC_BYTES * slot++;
          expandInto(n, desc, n.inputs[i]!, norm, q);
          expand.push([dst, n.input(i), desc]);
          return dst;
        };
        const scale = operand(1),
          bias = operand(2);
        if (rows * cols === 0) return () => {};
        return () => {
          for (const [dst, src, desc] of expand) k.copy_nd(dst, src, desc);
          k.layernorm_f32_forward(y, mean, inv, x, scale, bias, rows, cols, eps, 0);
        };
      },
    },
  ],
});

// LayerNormalization's gradient with respect to input attrs.wrt (0: X, 1: Scale, 2: B): inputs
// [dy, x, scale, mean, invStd] (x as the forward read it, normalised axes innermost; dy in x's
// order; Scale in the normalised axes' order), output in x's or Scale's order.
registerOp<LnAttrs & { wrt: number }>({
  type: "LayerNormGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => [c.need(c.attrs.wrt === 0 ? 1 : 2, "operand")],
  layout(c) {
    const x = c.inputs[1]!,
      r = x.shape.length;
    const q = innerOrder(x.perm, normAxis(failer("LayerNormGrad"), c.attrs.axis, r)) ?? identityPerm(r);
    return { inputs: [x.perm, x.perm, q, "any", "any"], outputs: [c.attrs.wrt === 0 ? x.perm : q] };
  },
  algorithms: [
    {
      name: "layerNormGrad.rows",
      // the kernel always writes dx: a scratch one for the Scale and B gradients
      workspaceBytes: (n) => (n.attrs.wrt === 0 ? 0 : 4 * n.inputs[1]!.size),
      setup(n) {
        const x = n.inputs[1]!,
          ax = normAxis(failer(n.where), n.attrs.axis, x.shape.length);
        const rows = sizeOfDims(x.shape.slice(0, ax)),
          cols = sizeOfDims(x.shape.slice(ax));
        const k = n.kernels,
          out = n.output(0),
          size = n.outputs[0]!.size,
          wrt = n.attrs.wrt;
        const [dy, xp, scale, mean, inv] = [0, 1, 2, 3, 4].map((i) => n.input(i)) as [number, number, number, number, number];
        const dx = wrt === 0 ? out : n.workspace;
        return () => {
          k.fill_f32(out, 0, size);
          if (rows * cols) k.layernorm_f32_backward(dx, wrt === 1 ? out : 0, wrt === 2 ? out : 0, dy, xp, scale, mean, inv, rows, cols);
        };
      },
    },
  ],
});

function lnGeometry(n: PlanNode<LnAttrs>) {
  const x = n.inputs[0]!,
    r = x.shape.length;
  const ax = normAxis(failer(n.where), n.attrs.axis, r);
  const q = innerOrder(x.perm, ax) ?? identityPerm(r - ax);
  return { rows: sizeOfDims(x.shape.slice(0, ax)), cols: sizeOfDims(x.shape.slice(ax)), ax, q };
}

/** Whether LayerNormalization's input i (Scale, B) lies element for element as the normalised axes. */
function lnDirect(n: PlanNode<LnAttrs>, i: number): boolean {
  const v = n.inputs[i]!,
    { ax, q } = lnGeometry(n),
    norm = n.inputs[0]!.shape.slice(ax);
  return v.shape.length === norm.length && v.shape.every((d, k) => d === norm[k]) && samePhysical(v.perm, q, v.shape);
}

// GroupNormalization's (and InstanceNormalization's, groups 0: one per channel) gradient with
// respect to input attrs.wrt (0: input, 1: scale, 2: bias): inputs [dy, x, scale] in ONNX order,
// scale [C] or [G] (opset 18's per-group form: expanded, and its gradient summed per group). Each
// run recomputes the statistics (groupnorm_f32_forward into the workspace), then
// groupnorm_f32_backward.
registerOp<{ epsilon: number; groups: number; wrt: number }>({
  type: "GroupNormGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => [c.need(c.attrs.wrt === 0 ? 1 : 2, "operand")],
  layout: (c) => ({ inputs: c.inputs.map((v) => (v ? identityPerm(v.shape.length) : "any")), outputs: c.outputs.map((t) => identityPerm(t.shape.length)) }),
  algorithms: [
    {
      name: "groupNormGrad.groups",
      // the recomputed y (then dx when not wanted) the size of x, mean and invStd [N, G], the scale
      // expanded to [C] and per-channel scale / bias gradients when they are [G]
      workspaceBytes: (n) => {
        const X = n.inputs[1]!,
          [N, C] = X.shape as [number, number];
        return 4 * (X.size + 2 * N * (n.attrs.groups || C) + 2 * C);
      },
      paramBytes: () => 2 * ND_DESC_BYTES,
      setup(n) {
        const X = n.inputs[1]!,
          N = X.shape[0]!,
          C = X.shape[1]!,
          S = sizeOfDims(X.shape.slice(2)),
          G = n.attrs.groups || C,
          Cg = C / G;
        const k = n.kernels,
          eps = n.attrs.epsilon,
          wrt = n.attrs.wrt,
          out = n.output(0),
          size = n.outputs[0]!.size;
        const [dy, x, scaleIn] = [0, 1, 2].map((i) => n.input(i)) as [number, number, number];
        const scratch = n.workspace,
          mean = scratch + 4 * X.size,
          inv = mean + 4 * N * G,
          scaleC = inv + 4 * N * G,
          chan = scaleC + 4 * C;
        const perGroup = n.inputs[2]!.size !== C;
        // [G] -> [C]: each group's value repeated over its Cg channels; [C] -> [G]: summed back
        const groupsOfChannels = (a: number[], b: number[]) => ({ dims: [G, Cg], strides: [a, b] });
        if (perGroup) {
          writeNd(n.engine.heap.i32, n.params, groupsOfChannels([Cg, 1], [1, 0]), n.where);
          writeNd(n.engine.heap.i32, n.params + ND_DESC_BYTES, groupsOfChannels([1, 0], [Cg, 1]), n.where);
        }
        const expandDesc = n.params,
          sumDesc = n.params + ND_DESC_BYTES;
        const scale = perGroup ? scaleC : scaleIn;
        const dx = wrt === 0 ? out : scratch;
        const dparam = wrt === 0 ? 0 : perGroup ? chan : out;
        if (X.size === 0) return () => k.fill_f32(out, 0, size);
        return () => {
          if (perGroup) k.copy_nd(scaleC, scaleIn, expandDesc);
          k.groupnorm_f32_forward(scratch, mean, inv, x, scale, 0, N, G, Cg, S, eps);
          k.fill_f32(out, 0, size);
          if (wrt !== 0) k.fill_f32(scratch, 0, X.size);
          if (dparam === chan) k.fill_f32(chan, 0, C);
          k.groupnorm_f32_backward(dx, wrt === 1 ? dparam : 0, wrt === 2 ? dparam : 0, dy, x, scale, mean, inv, N, G, Cg, S);
          if (dparam === chan) k.accumulate_nd(out, chan, sumDesc);
        };
      },
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// InstanceNormalization, GroupNormalization

/** Per-channel scale and bias ([C], or [G] repeated Cg times) as pointers, expanding [G] each run. */
function channelOperands(n: BoundNode<unknown>, C: number, G: number, wsOffset: number): { scale: number; bias: number; expand: () => void } {
  const k = n.kernels,
    copies: [number, number, number][] = [];
  const one = (i: number, slot: number): number => {
    const v = n.inputs[i];
    if (!v) return 0;
    if (v.size === C) return n.input(i);
    const dst = n.workspace + wsOffset + 4 * C * slot,
      desc = n.params + ND_DESC_BYTES * slot;
    writeNd(
      n.engine.heap.i32,
      desc,
      {
        dims: [G, C / G],
        strides: [
          [C / G, 1],
          [1, 0],
        ],
      },
      n.where,
    );
    copies.push([dst, n.input(i), desc]);
    return dst;
  };
  const scale = one(1, 0),
    bias = one(2, 1);
  return {
    scale,
    bias,
    expand: () => {
      for (const [d, s, desc] of copies) k.copy_nd(d, s, desc);
    },
  };
}

interface InAttrs {
  epsilon: number;
}

/** Workspace floats of instancenorm_nhwc_f32_forward (mirrors instancenorm_nhwc_f32_workspace). */
export const instanceNormWorkspaceFloats = (C: number): number => Math.max(Math.min(C, 256) * 33, 2 * C);

registerOp<InAttrs>({
  type: "InstanceNormalization",
  parse: (at) => ({ epsilon: at.float("epsilon", 1e-5) }),
  infer(c) {
    const x = floatInput(c, 0, "input");
    if (x.shape.length < 3) c.fail(`expects [N, C, ...spatial], got ${fmtShape(x.shape)}`);
    const C = x.shape[1]!;
    for (const [i, name] of [
      [1, "scale"],
      [2, "B"],
    ] as const) {
      const t = c.need(i, name);
      if (t.shape.length !== 1 || t.shape[0] !== C) c.fail(`${name} must have shape [${C}], got ${fmtShape(t.shape)}`);
    }
    return [x];
  },
  layout(c) {
    const x = c.inputs[0]!,
      r = x.shape.length;
    const p = isOnnxOrder(x) && !isChannelsLast(x) ? identityPerm(r) : channelsLast(r);
    return { inputs: c.inputs.map((v, i) => (i === 0 ? p : v ? identityPerm(v.shape.length) : "any")), outputs: [p] };
  },
  gradient(g) {
    const dy = g.dy(0);
    if (!dy) return;
    for (const wrt of [0, 1, 2]) if (g.wants(wrt)) g.add(wrt, g.op("GroupNormGrad", [dy, g.x(0), g.x(1)], { ...g.attrs, groups: 0, wrt })[0]!);
  },
  algorithms: [
    {
      name: "instanceNormalization.channelsLast",
      eligible: (n) => isChannelsLast(n.inputs[0]!),
      workspaceBytes: (n) => {
        const [N, C] = n.inputs[0]!.shape as [number, number];
        return 4 * (2 * N * C + instanceNormWorkspaceFloats(C));
      },
      setup(n) {
        const X = n.inputs[0]!,
          N = X.shape[0]!,
          C = X.shape[1]!,
          S = sizeOfDims(X.shape.slice(2));
        const k = n.kernels,
          eps = n.attrs.epsilon,
          ws = n.workspace;
        const y = n.output(0),
          x = n.input(0),
          scale = n.input(1),
          bias = n.input(2);
        const mean = ws,
          inv = ws + 4 * N * C,
          scratch = ws + 8 * N * C;
        if (X.size === 0) return () => {};
        return () => k.instancenorm_nhwc_f32_forward(y, mean, inv, x, scale, bias, scratch, N, S, C, eps);
      },
    },
    {
      name: "instanceNormalization.onnxOrder",
      setup(n) {
        const X = n.inputs[0]!,
          N = X.shape[0]!,
          C = X.shape[1]!,
          S = sizeOfDims(X.shape.slice(2));
        const k = n.kernels,
          eps = n.attrs.epsilon;
        const y = n.output(0),
          x = n.input(0),
          scale = n.input(1),
          bias = n.input(2);
        if (X.size === 0) return () => {};
        return () => k.groupnorm_f32_forward(y, 0, 0, x, scale, bias, N, C, 1, S, eps);
      },
    },
  ],
});

interface GnAttrs {
  epsilon: number;
  groups: number;
}

registerOp<GnAttrs>({
  type: "GroupNormalization",
  parse(at) {
    if (!at.has("num_groups")) fail(at.where, "num_groups is required");
    return { epsilon: at.float("epsilon", 1e-5), groups: at.int("num_groups", 1) };
  },
  infer(c) {
    const x = floatInput(c, 0, "X");
    if (x.shape.length < 2) c.fail(`expects [N, C, ...], got ${fmtShape(x.shape)}`);
    const C = x.shape[1]!,
      G = c.attrs.groups;
    if (!(G >= 1) || C % G !== 0) c.fail(`num_groups ${G} must divide the ${C} channels`);
    for (const [i, name] of [
      [1, "scale"],
      [2, "bias"],
    ] as const) {
      const t = c.need(i, name);
      if (t.shape.length !== 1 || (t.shape[0] !== C && t.shape[0] !== G))
        c.fail(`${name} must have shape [${C}] (or [${G}], opset 18), got ${fmtShape(t.shape)}`);
    }
    return [x];
  },
  gradient(g) {
    const dy = g.dy(0);
    if (!dy) return;
    for (const wrt of [0, 1, 2]) if (g.wants(wrt)) g.add(wrt, g.op("GroupNormGrad", [dy, g.x(0), g.x(1)], { ...g.attrs, wrt })[0]!);
  },
  algorithms: [
    {
      name: "groupNormalization.onnxOrder",
      workspaceBytes: (n) => 4 * n.inputs[0]!.shape[1]! * [1, 2].filter((i) => n.inputs[i]!.size !== n.inputs[0]!.shape[1]).length,
      paramBytes: () => 2 * ND_DESC_BYTES,
      setup(n) {
        const X = n.inputs[0]!,
          N = X.shape[0]!,
          C = X.shape[1]!,
          S = sizeOfDims(X.shape.slice(2)),
          G = n.attrs.groups;
        const k = n.kernels,
          eps = n.attrs.epsilon;
        const y = n.output(0),
          x = n.input(0);
        const { scale, bias, expand } = channelOperands(n, C, G, 0);
        if (X.size === 0) return () => {};
        return () => {
          expand();
          k.groupnorm_f32_forward(y, 0, 0, x, scale, bias, N, G, C / G, S, eps);
        };
      },
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// LpNormalization, MeanVarianceNormalization

interface LpAttrs {
  axis: number;
  p: number;
}

registerOp<LpAttrs>({
  type: "LpNormalization",
  parse(at) {
    const p = at.int("p", 2);
    if (p !== 1 && p !== 2) fail(at.where, `p must be 1 or 2, got ${p}`);
    return { axis: at.int("axis", -1), p };
  },
  infer(c) {
    const x = floatInput(c, 0, "input");
    normAxis(c, c.attrs.axis, x.shape.length);
    return [x];
  },
  layout: (c) => ({ inputs: ["any"], outputs: [c.inputs[0]!.perm] }),
  gradient(g) {
    const dy = g.dy(0);
    if (dy && g.wants(0)) g.add(0, g.op("LpNormGrad", [dy, g.x(0), g.y(0)], g.attrs)[0]!);
  },
  algorithms: [
    {
      name: "lpNormalization.axis",
      setup(n) {
        const x = n.inputs[0]!;
        const [O, R, V] = axisView(x, normAxis(failer(n.where), n.attrs.axis, x.shape.length));
        const k = n.kernels,
          yp = n.output(0),
          xp = n.input(0),
          p = n.attrs.p;
        return () => k.lpnorm_f32_forward(yp, xp, O, R, V, p);
      },
    },
  ],
});

// LpNormalization's gradient: inputs [dy, x, y] (y the forward's output), all in x's axis order.
registerOp<LpAttrs>({
  type: "LpNormGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => [c.need(1, "x")],
  layout: (c) => ({ inputs: [c.inputs[1]!.perm, c.inputs[1]!.perm, c.inputs[1]!.perm], outputs: [c.inputs[1]!.perm] }),
  algorithms: [
    {
      name: "lpNormGrad.axis",
      setup(n) {
        const x = n.inputs[1]!;
        const [O, R, V] = axisView(x, normAxis(failer(n.where), n.attrs.axis, x.shape.length));
        const zero = zeroOutput(n as BoundNode<unknown>, 0),
          k = n.kernels,
          dx = n.output(0),
          p = n.attrs.p;
        const [dy, xp, yp] = [0, 1, 2].map((i) => n.input(i)) as [number, number, number];
        return () => {
          zero();
          k.lpnorm_f32_backward(dx, dy, xp, yp, O, R, V, p);
        };
      },
    },
  ],
});

interface MvnAttrs {
  axes: number[];
}

/** MVN's perm: x's kept axes then its reduced axes, each in x's order (rows of the reduced elements). */
function mvnPerm(perm: Perm, axes: readonly number[]): number[] {
  return [...perm.filter((a) => !axes.includes(a)), ...perm.filter((a) => axes.includes(a))];
}

const mvnAxes = (c: { fail(m: string): never }, a: MvnAttrs, r: number) => [...new Set(a.axes.map((v) => normAxis(c, v, r)))];

registerOp<MvnAttrs>({
  type: "MeanVarianceNormalization",
  parse: (at) => ({ axes: at.ints("axes") ?? [0, 2, 3] }),
  infer(c) {
    const x = floatInput(c, 0, "X");
    mvnAxes(c, c.attrs, x.shape.length);
    return [x];
  },
  layout(c) {
    const x = c.inputs[0]!;
    const p = mvnPerm(x.perm, mvnAxes(failer("MeanVarianceNormalization"), c.attrs, x.shape.length));
    return { inputs: [p], outputs: [p] };
  },
  gradient(g) {
    const dy = g.dy(0);
    if (dy && g.wants(0)) g.add(0, g.op("MeanVarianceNormalizationGrad", [dy, g.x(0)], g.attrs)[0]!);
  },
  algorithms: [
    {
      name: "meanVarianceNormalization.rows",
      setup(n) {
        const x = n.inputs[0]!;
        const axes = mvnAxes(failer(n.where), n.attrs, x.shape.length);
        const cols = sizeOfDims(axes.map((a) => x.shape[a]!)),
          rows = cols === 0 ? 0 : x.size / cols;
        const k = n.kernels,
          yp = n.output(0),
          xp = n.input(0);
        // ONNX's function body: (X - E[X]) / (sqrt(E[(X - E[X])^2]) + 1e-9)
        return () => k.layernorm_f32_forward(yp, 0, 0, xp, 0, 0, rows, cols, 1e-9, 1);
      },
    },
  ],
});

// MeanVarianceNormalization's gradient: inputs [dy, x], both with the reduced axes innermost (as
// the forward reads x); mvn_f32_backward recomputes each row's statistics.
registerOp<MvnAttrs>({
  type: "MeanVarianceNormalizationGrad",
  internal: true,
  parse: () => fail("internal", "not parsed"),
  infer: (c) => [c.need(1, "X")],
  layout(c) {
    const x = c.inputs[1]!;
    const p = mvnPerm(x.perm, mvnAxes(failer("MeanVarianceNormalizationGrad"), c.attrs, x.shape.length));
    return { inputs: [p, p], outputs: [p] };
  },
  algorithms: [
    {
      name: "meanVarianceNormalizationGrad.rows",
      setup(n) {
        const x = n.inputs[1]!;
        const axes = mvnAxes(failer(n.where), n.attrs, x.shape.length);
        const cols = sizeOfDims(axes.map((a) => x.shape[a]!)),
          rows = cols === 0 ? 0 : x.size / cols;
        const zero = zeroOutput(n as BoundNode<unknown>, 0),
          k = n.kernels,
          dx = n.output(0),
          dy = n.input(0),
          xp = n.input(1);
        return () => {
          zero();
          k.mvn_f32_backward(dx, dy, xp, rows, cols, 1e-9);
        };
      },
    },
  ],
});
