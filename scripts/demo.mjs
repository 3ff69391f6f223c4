// The demo job (`npm run demo`): trains a small CNN with the public functional API of the bundled
// package on an embedded, procedurally generated data set (no download), then reports test accuracy.
//   conv3x3(1->8) relu maxpool2 -> conv3x3(8->16) relu maxpool2 -> dense(256->4) -> softmax cross-entropy
// Data: 16x16 grey images of four classes (horizontal bar, vertical bar, diagonal, square outline)
// at random positions with noise. Usage: node scripts/demo.mjs [--build scalar|simd|relaxed] [--epochs N]
import * as nn from "../dist/simdnet.js";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const EPOCHS = Number(arg("epochs", 4));
const BATCH = 32,
  SIZE = 16,
  CLASSES = 4,
  TRAIN = 2048,
  TEST = 512,
  LR = 0.05;
const CLASS_NAMES = ["horizontal", "vertical", "diagonal", "square"];

const mulberry32 = nn.seededRandom; // the package's seeded generator (mulberry32)

/** n images [n,16,16,1] and labels, drawn from a seeded generator. */
function makeShapes(n, seed) {
  const r = mulberry32(seed);
  const images = new Float32Array(n * SIZE * SIZE);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const img = images.subarray(i * SIZE * SIZE, (i + 1) * SIZE * SIZE);
    for (let p = 0; p < img.length; p++) img[p] = 0.3 * r();
    const label = (labels[i] = Math.floor(r() * CLASSES));
    const len = 6 + Math.floor(r() * 6);
    const y0 = Math.floor(r() * (SIZE - len)),
      x0 = Math.floor(r() * (SIZE - len));
    const put = (y, x) => (img[y * SIZE + x] = 0.7 + 0.3 * r());
    for (let k = 0; k < len; k++) {
      if (label === 0) put(y0 + (len >> 1), x0 + k);
      else if (label === 1) put(y0 + k, x0 + (len >> 1));
      else if (label === 2) put(y0 + k, x0 + k);
      else {
        put(y0, x0 + k);
        put(y0 + len - 1, x0 + k);
        put(y0 + k, x0);
        put(y0 + k, x0 + len - 1);
      }
    }
  }
  return { images, labels };
}

/** He-initialised weights from a seeded generator. */
function heInit(e, shape, fanIn, seed) {
  const r = mulberry32(seed);
  const std = Math.sqrt(2 / fanIn);
  const v = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < v.length; i++) {
    const u = Math.max(r(), 1e-12);
    v[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return e.tensor(shape, v);
}

const e = await nn.init({ build: arg("build", "auto") });
console.log(`simdnet demo: wasm build '${e.build}', ${TRAIN} training / ${TEST} test images of ${SIZE}x${SIZE}`);

const params = {
  w1: heInit(e, [3, 3, 1, 8], 9, 1),
  b1: e.zeros([8]),
  w2: heInit(e, [3, 3, 8, 16], 72, 2),
  b2: e.zeros([16]),
  w3: heInit(e, [256, CLASSES], 256, 3),
  b3: e.zeros([CLASSES]),
};
const grads = Object.fromEntries(Object.entries(params).map(([k, t]) => [k, e.zeros(t.shape)]));
const conv = { pads: 1 };
const pool = { kernel: 2, strides: 2 };

/** Forward pass; returns logits and what backward needs. */
function forward(x) {
  const a1 = nn.relu(nn.conv2d(x, params.w1, params.b1, conv));
  const p1 = nn.maxPool2d(a1, pool);
  const a2 = nn.relu(nn.conv2d(p1.y, params.w2, params.b2, conv));
  const p2 = nn.maxPool2d(a2, pool);
  const logits = nn.dense(p2.y, params.w3, params.b3);
  return { x, a1, p1, a2, p2, logits };
}

function trainStep(x, labels) {
  for (const g of Object.values(grads)) nn.fill(g, 0);
  const f = forward(x);
  const { loss, probs } = nn.softmaxCrossEntropy(f.logits, labels);
  const dlogits = nn.softmaxCrossEntropyBackward(probs, labels, 1 / labels.size);
  const d3 = nn.denseBackward(dlogits, f.p2.y, params.w3, { dw: grads.w3, db: grads.b3 });
  const dp2 = nn.maxPool2dBackward(d3.dx, f.p2.argmax, f.a2.shape);
  const da2 = nn.reluBackward(dp2, f.a2);
  const d2 = nn.conv2dBackward(da2, f.p1.y, params.w2, conv, { dw: grads.w2, db: grads.b2 });
  const dp1 = nn.maxPool2dBackward(d2.dx, f.p1.argmax, f.a1.shape);
  const da1 = nn.reluBackward(dp1, f.a1);
  nn.conv2dBackward(da1, x, params.w1, conv, { dw: grads.w1, db: grads.b1 });
  for (const k of Object.keys(params)) nn.axpy(params[k], grads[k], -LR);
  return { loss, probs };
}

const argmaxRow = (row) => row.indexOf(Math.max(...row));
function accuracy(probsOrLogits, labels) {
  const v = probsOrLogits.data,
    k = probsOrLogits.shape[1];
  let right = 0;
  for (let i = 0; i < labels.length; i++) if (argmaxRow(Array.from(v.subarray(i * k, (i + 1) * k))) === labels[i]) right++;
  return right / labels.length;
}

const train = makeShapes(TRAIN, 42),
  test = makeShapes(TEST, 4242);
const started = performance.now();
for (let epoch = 1; epoch <= EPOCHS; epoch++) {
  let lossSum = 0,
    accSum = 0,
    batches = 0;
  const t0 = performance.now();
  for (let i = 0; i + BATCH <= TRAIN; i += BATCH) {
    e.tidy(() => {
      const x = e.tensor([BATCH, SIZE, SIZE, 1], train.images.subarray(i * SIZE * SIZE, (i + BATCH) * SIZE * SIZE));
      const labels = e.ints([BATCH], train.labels.subarray(i, i + BATCH));
      const { loss, probs } = trainStep(x, labels);
      lossSum += loss;
      accSum += accuracy(probs, train.labels.subarray(i, i + BATCH));
      batches++;
    });
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `epoch ${epoch}: loss ${(lossSum / batches).toFixed(4)}  train accuracy ${((100 * accSum) / batches).toFixed(1)}%  ${Math.round((batches * BATCH) / secs)} images/s`,
  );
}
const testAcc = e.tidy(() => {
  const f = forward(e.tensor([TEST, SIZE, SIZE, 1], test.images));
  return accuracy(f.logits, test.labels);
});
console.log(
  `test accuracy ${(100 * testAcc).toFixed(1)}% on ${TEST} images (${CLASS_NAMES.join(", ")}), ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
if (testAcc < 0.9) {
  console.error("demo: test accuracy below 90%: training did not work");
  process.exit(1);
}
