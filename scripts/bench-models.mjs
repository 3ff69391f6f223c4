// Times whole training steps of zoo models (forward in training mode, backward, Adam update) on 1
// and 2 threads: where the single-op bench (npm run bench) cannot see dispatch gaps between ops,
// small feature maps late in a network, or work left on one thread.
// The loss gradient is a fixed tensor (the loss itself costs nothing next to the network).
// Usage: node scripts/bench-models.mjs [--models resnet18:32:16,vgg16:32:8] [--threads 1,2] [--profile]
//   --models   name:inputSize:batch, comma-separated (default: the list below)
//   --threads  thread counts to time each model on (default 1,2; 2 needs SharedArrayBuffer)
//   --profile  also print, per model and thread count, the time per kernel export over the timed
//              steps (threaded calls as "parallel <kernel>": their wall time, the calling thread's
//              own parts counted under the kernel too)
// Re-runs itself with --experimental-wasm-relaxed-simd on Node 20, as the bench does; run
// `node scripts/build.mjs` first after edits.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const FLAG = "--experimental-wasm-relaxed-simd";
if (!process.execArgv.includes(FLAG) && !process.env.BENCH_MODELS_CHILD) {
  const r = spawnSync(process.execPath, [FLAG, "--expose-gc", ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, BENCH_MODELS_CHILD: "1" },
  });
  process.exit(r.status ?? 1);
}

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const nn = await import(pathToFileURL(join(root, "dist", "simdnet.js")).href);

const argv = process.argv.slice(2);
const value = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
const DEFAULT_MODELS = "lenet5:28:64,resnet18:32:16,vgg16:32:8,resnet50:64:4,alexnet:227:2,googlenet:96:2,segnet:64:2";
const models = value("models", DEFAULT_MODELS)
  .split(",")
  .map((s) => {
    const [name, size, batch] = s.split(":");
    if (typeof nn[name] !== "function" || !(+size > 0) || !(+batch > 0)) throw new Error(`--models: bad entry '${s}' (name:inputSize:batch)`);
    return { name, size: +size, batch: +batch };
  });
const threadCounts = value("threads", "1,2").split(",").map(Number);
const profile = argv.includes("--profile");

/** Wraps every kernel export of engine e (and e.parallel) to sum the time spent in each into `times`. */
function instrument(e, times) {
  const raw = e.kernels,
    wrapped = {};
  const add = (key, t0) => times.set(key, (times.get(key) ?? 0) + performance.now() - t0);
  for (const key of Object.keys(raw)) {
    const f = raw[key];
    wrapped[key] =
      typeof f !== "function"
        ? f
        : (...args) => {
            const t0 = performance.now();
            try {
              return f(...args);
            } finally {
              add(key, t0);
            }
          };
  }
  Object.defineProperty(wrapped, "memory", { get: () => raw.memory });
  Object.defineProperty(e, "kernels", { value: wrapped });
  const parallel = e.parallel.bind(e);
  e.parallel = (kernel, parts) => {
    const t0 = performance.now();
    try {
      return parallel(kernel, parts);
    } finally {
      add(`parallel ${kernel}`, t0);
    }
  };
}

console.log(`models: training step = forward (training) + backward + Adam; median of 5 steps after 2`);
for (const threads of threadCounts) {
  const e = await nn.init({ threads });
  if (e.threads !== threads) {
    console.log(`threads ${threads}: not available here (${e.threadsReason})`);
    e.dispose();
    continue;
  }
  const times = new Map();
  if (profile) instrument(e, times);
  for (const { name, size, batch } of models) {
    const spec = nn[name]({ inputSize: size, classes: 10 });
    const model = nn.createModel(e, spec, { seed: 1 });
    model.plan(batch);
    const channels = spec.inputShape?.[2] ?? 3;
    const x = e.tensor(
      [batch, size, size, channels],
      Float32Array.from({ length: batch * size * size * channels }, (_, i) => Math.sin(i)),
    );
    // the output's shape ([batch, 10], or per pixel for SegNet) from one forward pass
    const outShape = model.forward(x, { training: true }).shape;
    const outSize = outShape.reduce((a, d) => a * d, 1);
    const dLogits = e.tensor(
      outShape,
      Float32Array.from({ length: outSize }, (_, i) => (i % 10 === 3 ? -0.9 : 0.1) / batch),
    );
    const optimizer = new nn.Adam({ lr: 1e-4 });
    const step = () => {
      model.forward(x, { training: true });
      model.zeroGrads();
      model.backward(dLogits, { inputGradient: false });
      optimizer.step(model.parameters());
    };
    for (let i = 0; i < 2; i++) step();
    times.clear();
    const ms = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      step();
      ms.push(performance.now() - t0);
    }
    const median = [...ms].sort((a, b) => a - b)[2];
    console.log(
      `${`${name} ${size}x${size} batch ${batch}`.padEnd(28)} threads ${threads}: ${median.toFixed(1).padStart(7)} ms/step  ${((batch * 1000) / median).toFixed(0).padStart(6)} images/s`,
    );
    if (profile) {
      const total = ms.reduce((a, b) => a + b, 0);
      [...times]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 12)
        .forEach(([k, t]) => console.log(`    ${k.padEnd(46)} ${(t / ms.length).toFixed(2).padStart(8)} ms  ${((100 * t) / total).toFixed(1)}%`));
    }
    optimizer.dispose();
    model.dispose?.();
    x.dispose();
    dLogits.dispose();
  }
  e.dispose();
  // the dropped engine's memory (1+ GB after AlexNet) otherwise keeps V8's background GC busy on
  // one of two cores during the next thread count's steps: 2 threads then ran no faster than one
  globalThis.gc?.();
}
