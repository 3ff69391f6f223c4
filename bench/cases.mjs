// The benchmark cases of issue 6 and, for each, how every library runs it.
// Shapes are written NHWC (simdnet's and TF.js's layout); onnxruntime-web is given the same data
// in NCHW, its native layout (x transposed once at setup; the timed run() copies x in and y out).
// ConvNetJS works per sample on Float64 volumes (HWC), so a batch is a loop over samples.
// Each builder returns { fn, result? } where fn is the timed call and result() runs once more and
// returns the output in NHWC order (to check that every library computed the same thing), or
// returns na("reason") when the library has no such operation.
import { lenetCase } from "./lenet.mjs";
import { oneOpModel } from "./onnx.mjs";
import { lstmCase } from "./rnn.mjs";

/** A "not available" marker with the reason shown in the table. */
export const na = (reason) => ({ na: reason });

export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n uniform values in [-scale, scale) from a seeded generator. */
export function rand(n, seed, scale = 0.5) {
  const r = mulberry32(seed);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (2 * r() - 1) * scale;
  return v;
}

/** NHWC [n,h,w,c] -> NCHW. */
export function nhwcToNchw(v, n, h, w, c) {
  const o = new Float32Array(v.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) o[((b * c + k) * h + y) * w + x] = v[((b * h + y) * w + x) * c + k];
  return o;
}

/** NCHW [n,c,h,w] -> NHWC. */
export function nchwToNhwc(v, n, c, h, w) {
  const o = new Float32Array(v.length);
  for (let b = 0; b < n; b++)
    for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) o[((b * h + y) * w + x) * c + k] = v[((b * c + k) * h + y) * w + x];
  return o;
}

/** Conv weights [KH,KW,Cg,OC] (simdnet, TF.js) -> [OC,Cg,KH,KW] (ONNX). */
function weightsToOihw(w, kh, kw, cg, oc) {
  const o = new Float32Array(w.length);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < cg; c++) for (let k = 0; k < oc; k++) o[((k * cg + c) * kh + i) * kw + j] = w[((i * kw + j) * cg + c) * oc + k];
  return o;
}

// ---------------------------------------------------------------------------------------------
// helpers per library

/** simdnet: tensors made at setup, kept until the case ends. */
function simdnetScope(e) {
  const made = [];
  const keep = (t) => (made.push(t), t);
  return {
    tensor: (shape, values) => keep(e.tensor(shape, values)),
    zeros: (shape) => keep(e.zeros(shape)),
    empty: (shape, dtype) => keep(e.empty(shape, dtype)),
    dispose: () => made.forEach((t) => t.dispose()),
  };
}

/** TF.js: switch to the backend before any tensor is made; every timed call runs in tidy. */
async function tfScope(lib) {
  await lib.tf.setBackend(lib.backend);
  const made = [];
  return {
    tensor: (values, shape) => (made.push(lib.tf.tensor(values, shape, "float32")), made[made.length - 1]),
    dispose: () => lib.tf.dispose(made),
  };
}

/**
 * TF.js timed call: runs `op` in tidy and keeps its output until the next call (then disposes it),
 * so result() can read the last timed output instead of running a slow op once more.
 */
function tfTimed(tf, op, scope) {
  let last = null;
  const fn = () => {
    last?.dispose();
    last = tf.tidy(op);
  };
  return {
    fn,
    result: () => (last ?? (fn(), last)).dataSync().slice(),
    dispose: () => (last?.dispose(), scope.dispose()),
  };
}

/** ConvNetJS volume from NHWC values of one sample. */
function vol(cnj, values, h, w, c) {
  const v = new cnj.Vol(w, h, c, 0);
  v.w.set(values);
  return v;
}

/** ConvNetJS conv layer with weights [KH,KW,C,OC] copied in (filters are HWC per output channel). */
function cnjConv(cnj, { h, w, c, oc, k, stride, pad }, weights) {
  const layer = new cnj.ConvLayer({ in_sx: w, in_sy: h, in_depth: c, sx: k, filters: oc, stride, pad });
  for (let o = 0; o < oc; o++) {
    const f = layer.filters[o].w;
    for (let t = 0; t < k * k * c; t++) f[t] = weights[t * oc + o];
  }
  return layer;
}

// ---------------------------------------------------------------------------------------------
// conv2d forward (also depthwise, 1x1, batched)

/** The registry algorithms simdnet runs for these passes of a conv (nn.conv2dAlgorithms), e.g. "winograd". */
function chosenAlgorithms(nn, e, xShape, wShape, options, passes) {
  const names = passes.map((p) =>
    nn
      .conv2dAlgorithms(e, xShape, wShape, options, p)
      .find((a) => a.chosen)
      .name.replace("conv2d.", ""),
  );
  return [...new Set(names)].join("+");
}

function convCase({ name, n = 1, h, w, c, oc, k, stride = 1, pad = 0, groups = 1 }) {
  const cg = c / groups;
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1,
    ow = Math.floor((w + 2 * pad - k) / stride) + 1;
  const flops = 2 * n * oh * ow * oc * k * k * cg;
  const depthwise = groups === c && groups > 1;
  let data;
  const get = () => (data ??= { x: rand(n * h * w * c, 1), w: rand(k * k * cg * oc, 2, 0.2) });
  const tfPad =
    pad === 0
      ? "valid"
      : stride === 1 && pad === (k - 1) / 2
        ? "same"
        : [
            [0, 0],
            [pad, pad],
            [pad, pad],
            [0, 0],
          ];
  return {
    name,
    flops,
    outShape: [n, oh, ow, oc],
    simdnet({ nn, e }) {
      const s = simdnetScope(e);
      const x = s.tensor([n, h, w, c], get().x),
        wt = s.tensor([k, k, cg, oc], get().w),
        y = s.empty([n, oh, ow, oc]);
      const options = { strides: stride, pads: pad, groups };
      const fn = () => void nn.conv2d(x, wt, null, options, y);
      return {
        fn,
        result: () => (fn(), Float32Array.from(y.data)),
        dispose: s.dispose,
        algorithm: chosenAlgorithms(nn, e, x.shape, wt.shape, options, ["forward"]),
      };
    },
    async tfjs(lib) {
      const { tf } = lib;
      if (groups > 1 && !depthwise) return na("no grouped conv");
      const s = await tfScope(lib);
      const x = s.tensor(get().x, [n, h, w, c]);
      const wt = depthwise ? s.tensor(get().w, [k, k, c, 1]) : s.tensor(get().w, [k, k, cg, oc]);
      const op = depthwise ? () => tf.depthwiseConv2d(x, wt, stride, tfPad) : () => tf.conv2d(x, wt, stride, tfPad);
      return tfTimed(tf, op, s);
    },
    async ort({ ort }) {
      const model = ortModel.conv({ n, h, w, c, oc, k, stride, pad, groups, oh, ow }, get().w);
      const session = await ort.InferenceSession.create(model);
      const feeds = { x: new ort.Tensor("float32", nhwcToNchw(get().x, n, h, w, c), [n, c, h, w]) };
      return {
        fn: () => session.run(feeds),
        result: async () => nchwToNhwc((await session.run(feeds)).y.data, n, oc, oh, ow),
        dispose: () => session.release(),
      };
    },
    convnetjs({ cnj }) {
      if (groups > 1) return na("no depthwise / grouped conv layer");
      const layer = cnjConv(cnj, { h, w, c, oc, k, stride, pad }, get().w);
      const per = h * w * c;
      const xs = Array.from({ length: n }, (_, b) => vol(cnj, get().x.subarray(b * per, (b + 1) * per), h, w, c));
      const fn = () => xs.map((v) => layer.forward(v, false));
      return { fn, result: () => Float32Array.from(fn().flatMap((v) => Array.from(v.w))) };
    },
  };
}

// ONNX one-operator models (weights are initializers).
const ortModel = {
  conv({ n, h, w, c, oc, k, stride, pad, groups, oh, ow }, weights) {
    const cg = c / groups;
    return oneOpModel({
      op: "Conv",
      inputs: { x: [n, c, h, w] },
      initializers: { w: { dims: [oc, cg, k, k], data: weightsToOihw(weights, k, k, cg, oc) } },
      operands: ["x", "w"],
      outputs: { y: [n, oc, oh, ow] },
      attributes: { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad], dilations: [1, 1], group: groups },
    });
  },
};

// ---------------------------------------------------------------------------------------------
// pooling

function poolCase({ name, kind, n = 1, h, w, c, k, stride }) {
  const global = kind === "global";
  const oh = global ? 1 : Math.floor((h - k) / stride) + 1,
    ow = global ? 1 : Math.floor((w - k) / stride) + 1;
  const flops = global ? n * h * w * c : n * oh * ow * c * k * k; // one add / compare per window tap
  let data;
  const get = () => (data ??= { x: rand(n * h * w * c, 3) });
  const onnxOp = { max: "MaxPool", avg: "AveragePool", global: "GlobalAveragePool" }[kind];
  return {
    name,
    flops,
    memoryBound: true,
    outShape: [n, oh, ow, c],
    simdnet({ nn, e }) {
      const s = simdnetScope(e);
      const x = s.tensor([n, h, w, c], get().x),
        y = s.empty([n, oh, ow, c]);
      let fn;
      if (kind === "max") {
        const argmax = s.empty([n, oh, ow, c], "i32"); // simdnet's max pool also writes the arg-max (used by backward)
        fn = () => void nn.maxPool2d(x, { kernel: k, strides: stride }, { y, argmax });
      } else if (kind === "avg") fn = () => void nn.avgPool2d(x, { kernel: k, strides: stride }, y);
      else fn = () => void nn.globalAvgPool(x, y);
      return { fn, result: () => (fn(), Float32Array.from(y.data)), dispose: s.dispose };
    },
    async tfjs(lib) {
      const { tf } = lib;
      const s = await tfScope(lib);
      const x = s.tensor(get().x, [n, h, w, c]);
      const op =
        kind === "max" ? () => tf.maxPool(x, k, stride, "valid") : kind === "avg" ? () => tf.avgPool(x, k, stride, "valid") : () => tf.mean(x, [1, 2], true);
      return tfTimed(tf, op, s);
    },
    async ort({ ort }) {
      const model = oneOpModel({
        op: onnxOp,
        inputs: { x: [n, c, h, w] },
        operands: ["x"],
        outputs: { y: [n, c, oh, ow] },
        attributes: global ? {} : { kernel_shape: [k, k], strides: [stride, stride] },
      });
      const session = await ort.InferenceSession.create(model);
      const feeds = { x: new ort.Tensor("float32", nhwcToNchw(get().x, n, h, w, c), [n, c, h, w]) };
      return {
        fn: () => session.run(feeds),
        result: async () => nchwToNhwc((await session.run(feeds)).y.data, n, c, oh, ow),
        dispose: () => session.release(),
      };
    },
    convnetjs({ cnj }) {
      if (kind !== "max") return na(kind === "avg" ? "no average pooling layer" : "no global pooling layer");
      const layer = new cnj.PoolLayer({ in_sx: w, in_sy: h, in_depth: c, sx: k, stride });
      const per = h * w * c;
      const xs = Array.from({ length: n }, (_, b) => vol(cnj, get().x.subarray(b * per, (b + 1) * per), h, w, c));
      const fn = () => xs.map((v) => layer.forward(v, false));
      return { fn, result: () => Float32Array.from(fn().flatMap((v) => Array.from(v.w))) };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// dense (fully connected with bias)

// packed: simdnet packs the weights once in setup (packDenseWeights), as TF.js (XNNPACK) and
// onnxruntime-web do when they create their operator or session; else dense reads w as it is.
function denseCase({ name, batch, fin, fout, packed = false }) {
  const flops = 2 * batch * fin * fout + batch * fout;
  let data;
  const get = () => (data ??= { x: rand(batch * fin, 4), w: rand(fin * fout, 5, 0.05), b: rand(fout, 6) });
  return {
    name,
    flops,
    outShape: [batch, fout],
    simdnet({ nn, e }) {
      const s = simdnetScope(e);
      const x = s.tensor([batch, fin], get().x),
        w = s.tensor([fin, fout], get().w),
        b = s.tensor([fout], get().b),
        y = s.empty([batch, fout]);
      const weights = packed ? nn.packDenseWeights(w) : w;
      const fn = () => void nn.dense(x, weights, b, y);
      const dispose = () => {
        if (packed) weights.dispose();
        s.dispose();
      };
      return { fn, result: () => (fn(), Float32Array.from(y.data)), dispose };
    },
    async tfjs(lib) {
      const { tf } = lib;
      const s = await tfScope(lib);
      const x = s.tensor(get().x, [batch, fin]),
        w = s.tensor(get().w, [fin, fout]),
        b = s.tensor(get().b, [fout]);
      const op = () => tf.fused.matMul({ a: x, b: w, bias: b });
      return tfTimed(tf, op, s);
    },
    async ort({ ort }) {
      const model = oneOpModel({
        op: "Gemm",
        inputs: { x: [batch, fin] },
        initializers: { w: { dims: [fin, fout], data: get().w }, b: { dims: [fout], data: get().b } },
        operands: ["x", "w", "b"],
        outputs: { y: [batch, fout] },
      });
      const session = await ort.InferenceSession.create(model);
      const feeds = { x: new ort.Tensor("float32", get().x, [batch, fin]) };
      return { fn: () => session.run(feeds), result: async () => (await session.run(feeds)).y.data.slice(), dispose: () => session.release() };
    },
    convnetjs({ cnj }) {
      const layer = new cnj.FullyConnLayer({ in_sx: 1, in_sy: 1, in_depth: fin, num_neurons: fout });
      for (let o = 0; o < fout; o++) for (let i = 0; i < fin; i++) layer.filters[o].w[i] = get().w[i * fout + o];
      layer.biases.w.set(get().b);
      const xs = Array.from({ length: batch }, (_, r) => vol(cnj, get().x.subarray(r * fin, (r + 1) * fin), 1, 1, fin));
      const fn = () => xs.map((v) => layer.forward(v, false));
      return { fn, result: () => Float32Array.from(fn().flatMap((v) => Array.from(v.w))) };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// conv2d backward: to the input, to the weights, and both (ConvNetJS computes both in one pass)

// depthwise: w [k, k, 1, c] with groups c (oc is c); TF.js's DepthwiseConv2dNative gradient kernels.
function convBackwardCase({ name, pass, h, w, c, oc, k, depthwise = false }) {
  const n = 1,
    pad = (k - 1) / 2;
  const cg = depthwise ? 1 : c; // input channels per output channel
  const flops = 2 * n * h * w * oc * k * k * cg * (pass === "both" ? 2 : 1);
  const wShape = [k, k, cg, oc],
    options = depthwise ? { pads: pad, groups: c } : { pads: pad };
  let data;
  const get = () => (data ??= { x: rand(n * h * w * c, 7), w: rand(k * k * cg * oc, 8, 0.2), dy: rand(n * h * w * oc, 9) });
  const outShape = pass === "filter" ? wShape : [n, h, w, c];
  return {
    name,
    flops,
    outShape,
    simdnet({ nn, e }) {
      const s = simdnetScope(e);
      const x = s.tensor([n, h, w, c], get().x),
        wt = s.tensor(wShape, get().w),
        dy = s.tensor([n, h, w, oc], get().dy);
      const dx = s.zeros([n, h, w, c]),
        dw = s.zeros(wShape);
      let fn, result;
      if (pass === "input") {
        fn = () => void nn.conv2dBackwardInput(dy, wt, x.shape, options, dx);
        result = () => (nn.fill(dx, 0), fn(), Float32Array.from(dx.data));
      } else if (pass === "filter") {
        fn = () => void nn.conv2dBackwardFilter(dy, x, wt.shape, options, dw);
        result = () => (nn.fill(dw, 0), fn(), Float32Array.from(dw.data));
      } else {
        fn = () => void nn.conv2dBackward(dy, x, wt, options, { dx, dw }, false);
        result = () => (nn.fill(dx, 0), nn.fill(dw, 0), fn(), Float32Array.from(dx.data));
      }
      const passes = pass === "input" ? ["backward_input"] : pass === "filter" ? ["backward_filter"] : ["backward_input", "backward_filter"];
      return { fn, result, dispose: s.dispose, algorithm: chosenAlgorithms(nn, e, x.shape, wShape, options, passes) };
    },
    async tfjs(lib) {
      const { tf } = lib;
      const s = await tfScope(lib);
      const tfShape = depthwise ? [k, k, c, 1] : wShape; // TF.js depthwise filters: [k, k, c, multiplier]
      const x = s.tensor(get().x, [n, h, w, c]),
        wt = s.tensor(get().w, tfShape),
        dy = s.tensor(get().dy, [n, h, w, oc]);
      const attrs = { strides: [1, 1], pad: "same", dataFormat: "NHWC", dimRoundingMode: undefined, dilations: [1, 1] };
      const [inputKernel, filterKernel] = depthwise
        ? ["DepthwiseConv2dNativeBackpropInput", "DepthwiseConv2dNativeBackpropFilter"]
        : ["Conv2DBackpropInput", "Conv2DBackpropFilter"];
      const input = () => tf.engine().runKernel(inputKernel, { dy, filter: wt }, { ...attrs, inputShape: [n, h, w, c] });
      const filter = () => tf.engine().runKernel(filterKernel, { x, dy }, { ...attrs, filterShape: tfShape });
      const op = pass === "input" ? input : pass === "filter" ? filter : () => (filter(), input());
      const needed = { input: [inputKernel], filter: [filterKernel], both: [filterKernel, inputKernel] }[pass];
      const missing = needed.find((kernel) => !tf.getKernel(kernel, lib.backend));
      if (missing) {
        s.dispose();
        return na(`${missing} not registered`);
      }
      return tfTimed(tf, op, s);
    },
    ort: () => na("inference only"),
    convnetjs({ cnj }) {
      if (depthwise) return na("no depthwise / grouped conv layer");
      if (pass !== "both") return na("dx and dw only together");
      const layer = cnjConv(cnj, { h, w, c, oc, k, stride: 1, pad }, get().w);
      const xv = vol(cnj, get().x, h, w, c);
      layer.forward(xv, true);
      const fn = () => {
        layer.out_act.dw.set(get().dy); // backward reads the output gradient here, rewrites xv.dw and accumulates filter grads
        layer.backward();
      };
      return { fn, result: () => (fn(), Float32Array.from(xv.dw)) };
    },
  };
}

// ---------------------------------------------------------------------------------------------

/** Every case in issue 6's order. `peers` lists the peer columns a case runs (others show a dash). */
export function allCases() {
  const fwd = ["tfjs-wasm", "ort-wasm", "convnetjs"];
  const bwd = ["tfjs-wasm", "tfjs-cpu", "ort-wasm", "convnetjs"];
  const cases = [
    convCase({ name: "conv3x3 s1 p1 56x56x64->64", h: 56, w: 56, c: 64, oc: 64, k: 3, pad: 1 }),
    convCase({ name: "conv3x3 s1 p1 28x28x128->128", h: 28, w: 28, c: 128, oc: 128, k: 3, pad: 1 }),
    convCase({ name: "conv3x3 s1 p1 14x14x256->256", h: 14, w: 14, c: 256, oc: 256, k: 3, pad: 1 }),
    convCase({ name: "conv3x3 s1 p1 224x224x3->64", h: 224, w: 224, c: 3, oc: 64, k: 3, pad: 1 }),
    convCase({ name: "conv1x1 28x28x256->64", h: 28, w: 28, c: 256, oc: 64, k: 1 }),
    convCase({ name: "conv1x1 14x14x512->128", h: 14, w: 14, c: 512, oc: 128, k: 1 }),
    convCase({ name: "conv1x1 56x56x64->256", h: 56, w: 56, c: 64, oc: 256, k: 1 }),
    convCase({ name: "conv5x5 valid b64 32x32x3->6", n: 64, h: 32, w: 32, c: 3, oc: 6, k: 5 }),
    convCase({ name: "depthwise3x3 p1 56x56x128", h: 56, w: 56, c: 128, oc: 128, k: 3, pad: 1, groups: 128 }),
    poolCase({ name: "maxpool 2x2 s2 56x56x64", kind: "max", h: 56, w: 56, c: 64, k: 2, stride: 2 }),
    poolCase({ name: "avgpool 2x2 s2 56x56x64", kind: "avg", h: 56, w: 56, c: 64, k: 2, stride: 2 }),
    poolCase({ name: "global avgpool 7x7x512", kind: "global", h: 7, w: 7, c: 512 }),
    denseCase({ name: "dense 1x4096->1000", batch: 1, fin: 4096, fout: 1000 }),
    denseCase({ name: "dense 1x4096->1000 packed", batch: 1, fin: 4096, fout: 1000, packed: true }),
    denseCase({ name: "dense 64x512->10", batch: 64, fin: 512, fout: 10 }),
  ].map((cs) => ({ ...cs, peers: fwd }));
  const conv = { h: 28, w: 28, c: 128, oc: 128, k: 3 };
  cases.push(
    { ...convBackwardCase({ name: "conv3x3 bwd-input 28x28x128->128", pass: "input", ...conv }), peers: bwd },
    { ...convBackwardCase({ name: "conv3x3 bwd-weights 28x28x128->128", pass: "filter", ...conv }), peers: bwd },
    // Both gradients in one call (ConvNetJS has no other way); TF.js cpu would only add up the two above.
    { ...convBackwardCase({ name: "conv3x3 bwd dx+dw 28x28x128->128", pass: "both", ...conv }), peers: ["tfjs-wasm", "ort-wasm", "convnetjs"] },
    // MobileNet's layer kind: the forward row above (depthwise3x3 p1 56x56x128) has the same FLOPs
    { ...convBackwardCase({ name: "depthwise3x3 bwd-input 56x56x128", pass: "input", h: 56, w: 56, c: 128, oc: 128, k: 3, depthwise: true }), peers: bwd },
    { ...convBackwardCase({ name: "depthwise3x3 bwd-weights 56x56x128", pass: "filter", h: 56, w: 56, c: 128, oc: 128, k: 3, depthwise: true }), peers: bwd },
    { ...lenetCase({ na, rand }), peers: bwd },
  );
  // issue 16: LSTM inference against onnxruntime (web and node) and a training step against TF.js,
  // with PyTorch on the CPU as the native anchor
  for (const batch of [1, 32]) cases.push({ ...lstmCase({ batch, pass: "inference", rand, na }), peers: ["tfjs-wasm", "ort-wasm", "ort-node", "pytorch-cpu"] });
  for (const batch of [1, 32]) cases.push({ ...lstmCase({ batch, pass: "train", rand, na }), peers: ["tfjs-wasm", "tfjs-cpu", "pytorch-cpu"] });
  return cases;
}
