// A user's program against the INSTALLED package (tests/runtimes/package.mjs packs simdnet, installs the
// tarball into a fresh project, type-checks this file under `strict` with moduleResolution nodenext and
// bundler, then runs it in Node, Deno, Bun and a Chromium page bundled by esbuild).
// It reports `CONSUMER_RESULT {json}` on stdout and in globalThis.__consumer (for the page).
import * as nn from "simdnet";
import { type Engine, type Shape, SimdnetError, type Tensor } from "simdnet";

function values(n: number, seed: number): Float32Array {
  const random = nn.seededRandom(seed);
  return Float32Array.from({ length: n }, () => random() * 2 - 1);
}

function convStep(e: Engine): { shape: Shape; gradNorm: number } {
  return e.tidy(() => {
    const x: Tensor = e.tensor([2, 6, 6, 3], values(2 * 6 * 6 * 3, 1));
    const w = e.tensor([3, 3, 3, 8], values(3 * 3 * 3 * 8, 2));
    const b = e.zeros([8]);
    const y = nn.relu(nn.conv2d(x, w, b, { strides: 1, pads: 1 }));
    const { dw } = nn.conv2dBackward(y, x, w, { strides: 1, pads: 1 });
    let gradNorm = 0;
    for (const v of dw.data) gradNorm += v * v;
    return { shape: y.shape, gradNorm: Math.sqrt(gradNorm) };
  });
}

function badShapeMessage(e: Engine): string {
  try {
    e.tidy(() => nn.conv2d(e.zeros([1, 4, 4, 3]), e.zeros([3, 3, 4, 8])));
  } catch (err) {
    if (err instanceof SimdnetError) return err.message;
    throw err;
  }
  throw new Error("conv2d accepted a filter with the wrong channel count");
}

function train(e: Engine): { first: number; last: number } {
  const model = nn.createModel(
    e,
    [
      { type: "conv", filters: 4, size: 3, pad: 1, activation: "relu" },
      { type: "pool", mode: "max", size: 2, stride: 2 },
      { type: "dense", units: 2 },
    ],
    { inputShape: [8, 8, 1], seed: 1 },
  );
  // Two classes: bright top half or bright bottom half.
  const count = 64;
  const images = new Uint8Array(count * 64);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 2;
    for (let p = 0; p < 64; p++) images[i * 64 + p] = p < 32 === (i % 2 === 0) ? 200 + (i % 50) : (i * 7 + p) % 40;
  }
  const history = nn.fit(model, { images, labels, count, height: 8, width: 8 }, { epochs: 3, batchSize: 16, optimizer: new nn.Adam({ lr: 0.01 }) });
  return { first: history[0]!.loss, last: history[history.length - 1]!.loss };
}

/** Three-channel float NHWC data through fitAsync with validation and early stopping. */
async function trainRgb(e: Engine): Promise<number> {
  const count = 32,
    x = new Float32Array(count * 4 * 4 * 3),
    labels = new Int32Array(count);
  for (let i = 0; i < x.length; i++) x[i] = (i % 3 === 0) === (Math.floor(i / 48) % 2 === 0) ? 1 : 0;
  for (let i = 0; i < count; i++) labels[i] = i % 2;
  const model = nn.createModel(
    e,
    [
      { type: "conv", filters: 4, size: 3, pad: 1, activation: "relu" },
      { type: "dense", units: 2 },
    ],
    { inputShape: [4, 4, 3] },
  );
  const history: nn.EpochInfo[] = await nn.fitAsync(
    model,
    { x, labels },
    {
      epochs: 5,
      batchSize: 8,
      optimizer: new nn.Adam({ lr: 0.05 }),
      validation: { x, labels },
      callbacks: [nn.earlyStopping({ patience: 2 })],
    },
  );
  return history[history.length - 1]!.validation!.accuracy ?? 0;
}

const e = await nn.init();
const conv = convStep(e);
const result = {
  build: e.build,
  shape: [...conv.shape],
  gradNorm: conv.gradNorm,
  error: badShapeMessage(e),
  training: train(e),
  rgbAccuracy: await trainRgb(e),
};
const ok =
  result.shape.join(",") === "2,6,6,8" &&
  Number.isFinite(result.gradNorm) &&
  result.gradNorm > 0 &&
  result.error.includes("conv2d") &&
  result.training.last < result.training.first &&
  result.rgbAccuracy > 0.9;
const line = JSON.stringify({ ok, ...result });
(globalThis as { __consumer?: string }).__consumer = line;
console.log(`CONSUMER_RESULT ${line}`);
