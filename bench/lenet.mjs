// LeNet-5 (ReLU, max pooling) training step at batch 64, the same network in every library:
//   x [64,32,32,1] -> conv5x5 6 +b relu -> maxpool 2 s2 -> conv5x5 16 +b relu -> maxpool 2 s2
//   -> dense 400->120 relu -> dense 120->84 relu -> dense 84->10 -> softmax cross-entropy -> SGD.
// One step = forward, backward and the parameter update for one batch of 64.
//   simdnet:   its functional API (conv2d, maxPool2d, dense, softmaxCrossEntropy, *Backward, axpy)
//   TF.js:     tf.fused.conv2d / tf.fused.matMul + tf.losses.softmaxCrossEntropy, tf.train.sgd
//              (gradients by tf.grad, so '@tensorflow/tfjs' must be loaded; the wasm backend cannot
//              run it: it has no Conv2DBackpropFilter kernel)
//   ConvNetJS: its own Net + Trainer ('sgd', momentum 0, no decay, batch_size 64 = one update per step)
// Every library starts from the same weights; the bench compares their initial losses.
// FLOPs counted: 3 x the forward conv + dense FLOPs (forward, input gradient, weight gradient).

export const BATCH = 64,
  CLASSES = 10,
  LR = 0.01;
export const LAYERS = {
  w1: [5, 5, 1, 6],
  b1: [6],
  w2: [5, 5, 6, 16],
  b2: [16],
  w3: [400, 120],
  b3: [120],
  w4: [120, 84],
  b4: [84],
  w5: [84, CLASSES],
  b5: [CLASSES],
};
const forwardMacs = 28 * 28 * 6 * 25 * 1 + 10 * 10 * 16 * 25 * 6 + 400 * 120 + 120 * 84 + 84 * CLASSES;
export const TRAIN_FLOPS = 3 * 2 * forwardMacs * BATCH;

const size = (shape) => shape.reduce((a, b) => a * b, 1);

/** Shared initial values: He-scaled uniform weights, zero biases, a seeded batch and labels. */
export function lenetData(rand) {
  const params = {};
  let seed = 100;
  for (const [k, shape] of Object.entries(LAYERS)) {
    const fanIn = shape.length === 4 ? shape[0] * shape[1] * shape[2] : shape[0];
    params[k] = k.startsWith("b") ? new Float32Array(size(shape)) : rand(size(shape), seed++, Math.sqrt(6 / fanIn));
  }
  const x = rand(BATCH * 32 * 32, 11, 1);
  const labels = Int32Array.from({ length: BATCH }, (_, i) => (i * 7 + 3) % CLASSES);
  return { params, x, labels };
}

/** The benchmark case (see cases.mjs for the builder contract). */
export function lenetCase({ na, rand }) {
  let data;
  const get = () => (data ??= lenetData(rand));
  return {
    name: "LeNet-5 train step b64",
    flops: TRAIN_FLOPS,
    simdnet({ nn, e }) {
      const made = [];
      const keep = (t) => (made.push(t), t);
      const p = Object.fromEntries(Object.entries(LAYERS).map(([k, shape]) => [k, keep(e.tensor(shape, get().params[k]))]));
      const g = Object.fromEntries(Object.entries(LAYERS).map(([k, shape]) => [k, keep(e.zeros(shape))]));
      const x = keep(e.tensor([BATCH, 32, 32, 1], get().x)),
        labels = keep(e.ints([BATCH], get().labels));
      const pool = { kernel: 2, strides: 2 };
      const forward = () => {
        const a1 = nn.relu(nn.conv2d(x, p.w1, p.b1));
        const p1 = nn.maxPool2d(a1, pool);
        const a2 = nn.relu(nn.conv2d(p1.y, p.w2, p.b2));
        const p2 = nn.maxPool2d(a2, pool); // [64,5,5,16] feeds dense directly (flattened NHWC)
        const a3 = nn.relu(nn.dense(p2.y, p.w3, p.b3));
        const a4 = nn.relu(nn.dense(a3, p.w4, p.b4));
        const logits = nn.dense(a4, p.w5, p.b5);
        return { a1, p1, a2, p2, a3, a4, ...nn.softmaxCrossEntropy(logits, labels) };
      };
      const initialLoss = e.tidy(() => forward().loss);
      const step = () =>
        e.tidy(() => {
          for (const t of Object.values(g)) nn.fill(t, 0);
          const { a1, p1, a2, p2, a3, a4, loss, probs } = forward();
          const d5 = nn.denseBackward(nn.softmaxCrossEntropyBackward(probs, labels, 1 / BATCH), a4, p.w5, { dw: g.w5, db: g.b5 });
          const d4 = nn.denseBackward(nn.reluBackward(d5.dx, a4), a3, p.w4, { dw: g.w4, db: g.b4 });
          const d3 = nn.denseBackward(nn.reluBackward(d4.dx, a3), p2.y, p.w3, { dw: g.w3, db: g.b3 });
          const dp2 = nn.maxPool2dBackward(d3.dx, p2.argmax, a2.shape);
          const d2 = nn.conv2dBackward(nn.reluBackward(dp2, a2), p1.y, p.w2, {}, { dw: g.w2, db: g.b2 });
          const dp1 = nn.maxPool2dBackward(d2.dx, p1.argmax, a1.shape);
          // the first layer needs no input gradient: only its filter and bias gradients
          const da1 = nn.reluBackward(dp1, a1);
          nn.conv2dBackwardFilter(da1, x, p.w1.shape, {}, g.w1);
          nn.biasBackward(da1, g.b1);
          for (const k of Object.keys(p)) nn.axpy(p[k], g[k], -LR);
          return loss;
        });
      return { fn: step, initialLoss, dispose: () => made.forEach((t) => t.dispose()) };
    },
    async tfjs({ tf, backend }) {
      await tf.setBackend(backend);
      const v = Object.fromEntries(Object.entries(LAYERS).map(([k, shape]) => [k, tf.variable(tf.tensor(get().params[k], shape, "float32"))]));
      const x = tf.tensor(get().x, [BATCH, 32, 32, 1], "float32");
      const onehot = tf.oneHot(tf.tensor1d(get().labels, "int32"), CLASSES).toFloat();
      const optimizer = tf.train.sgd(LR);
      const lossFn = () => {
        const a1 = tf.fused.conv2d({ x, filter: v.w1, strides: 1, pad: "valid", bias: v.b1, activation: "relu" });
        const p1 = tf.maxPool(a1, 2, 2, "valid");
        const a2 = tf.fused.conv2d({ x: p1, filter: v.w2, strides: 1, pad: "valid", bias: v.b2, activation: "relu" });
        const p2 = tf.maxPool(a2, 2, 2, "valid").reshape([BATCH, 400]);
        const a3 = tf.fused.matMul({ a: p2, b: v.w3, bias: v.b3, activation: "relu" });
        const a4 = tf.fused.matMul({ a: a3, b: v.w4, bias: v.b4, activation: "relu" });
        const logits = tf.fused.matMul({ a: a4, b: v.w5, bias: v.b5 });
        return tf.losses.softmaxCrossEntropy(onehot, logits);
      };
      const dispose = () => {
        tf.dispose([...Object.values(v), x, onehot]);
        optimizer.dispose();
      };
      // The gradients need these kernels; the wasm backend lacks the first.
      const missing = ["Conv2DBackpropFilter", "Conv2DBackpropInput", "MaxPoolGrad"].find((k) => !tf.getKernel(k, backend));
      if (missing) {
        dispose();
        return na(`${missing} not registered`);
      }
      const initialLoss = tf.tidy(() => lossFn().dataSync()[0]);
      return { fn: () => tf.tidy(() => void optimizer.minimize(lossFn, false)), initialLoss, dispose };
    },
    ort: () => na("inference only"),
    convnetjs({ cnj }) {
      const net = new cnj.Net();
      net.makeLayers([
        { type: "input", out_sx: 32, out_sy: 32, out_depth: 1 },
        { type: "conv", sx: 5, filters: 6, stride: 1, pad: 0, activation: "relu" },
        { type: "pool", sx: 2, stride: 2 },
        { type: "conv", sx: 5, filters: 16, stride: 1, pad: 0, activation: "relu" },
        { type: "pool", sx: 2, stride: 2 },
        { type: "fc", num_neurons: 120, activation: "relu" },
        { type: "fc", num_neurons: 84, activation: "relu" },
        { type: "softmax", num_classes: CLASSES },
      ]);
      // Same initial weights: conv filters are HWC volumes per output channel, fc filters one per output.
      const weighted = net.layers.filter((l) => l.layer_type === "conv" || l.layer_type === "fc");
      weighted.forEach((layer, i) => {
        const w = get().params[`w${i + 1}`],
          b = get().params[`b${i + 1}`];
        const outs = layer.out_depth,
          per = w.length / outs;
        for (let o = 0; o < outs; o++) for (let t = 0; t < per; t++) layer.filters[o].w[t] = w[t * outs + o];
        layer.biases.w.set(b);
      });
      const trainer = new cnj.Trainer(net, { method: "sgd", learning_rate: LR, batch_size: BATCH, momentum: 0, l2_decay: 0 });
      const xs = Array.from({ length: BATCH }, (_, i) => {
        const vol = new cnj.Vol(32, 32, 1, 0);
        vol.w.set(get().x.subarray(i * 1024, (i + 1) * 1024));
        return vol;
      });
      let initialLoss = 0;
      for (let i = 0; i < BATCH; i++) initialLoss -= Math.log(net.forward(xs[i], false).w[get().labels[i]]) / BATCH;
      const step = () => {
        for (let i = 0; i < BATCH; i++) trainer.train(xs[i], get().labels[i]);
      };
      return { fn: step, initialLoss };
    },
  };
}
