// Times conv2d forward, backward_input and backward_filter in every wasm build this Node can run.
// Case: x [1,28,28,128], w [3,3,128,128], pad 1 (batch 1). FLOPs per pass = 2*N*OH*OW*OC*KH*KW*C/groups.
// Usage: node scripts/bench-conv.mjs   (re-runs itself with --experimental-wasm-relaxed-simd on Node 20
// so the relaxed build is timed too; run `node scripts/build.mjs` first after edits).
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const FLAG = "--experimental-wasm-relaxed-simd";
if (!process.execArgv.includes(FLAG) && !process.env.BENCH_CONV_CHILD) {
  const r = spawnSync(process.execPath, [FLAG, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, BENCH_CONV_CHILD: "1" },
  });
  if (r.status === 0) process.exit(0);
  console.log(`(re-run with ${FLAG} failed; timing without the relaxed build)`);
  process.env.BENCH_CONV_CHILD = "1";
}

// The bundled package (dist/simdnet.js, made by `node scripts/build.mjs`).
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const simdnet = await import(pathToFileURL(join(root, "dist", "simdnet.js")).href);
const { init, conv2d, conv2dBackward, conv2dBackwardFilter, conv2dBackwardInput, BUILDS } = simdnet;

const [N, H, W, C, OC, K] = [1, 28, 28, 128, 128, 3];
const options = { pads: 1 };
const flops = 2 * N * H * W * OC * K * K * C; // OH = H, OW = W with pad 1

/** Median milliseconds per call: warm up (>= 3 calls and >= 300 ms), then >= 20 timed calls (>= 1 s). */
function time(fn) {
  let t0 = performance.now();
  for (let i = 0; i < 3 || performance.now() - t0 < 300; i++) fn();
  const times = [];
  t0 = performance.now();
  while (times.length < 20 || performance.now() - t0 < 1000) {
    const s = performance.now();
    fn();
    times.push(performance.now() - s);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

function fill(t, seed) {
  const d = t.data;
  let a = seed;
  for (let i = 0; i < d.length; i++) {
    a = (a * 1103515245 + 12345) >>> 0;
    d[i] = a / 4294967296 - 0.5;
  }
  return t;
}

const results = {};
for (const build of BUILDS) {
  let e;
  try {
    e = await init({ build });
  } catch (err) {
    console.log(`${build}: not runnable here (${err.message})`);
    continue;
  }
  const x = fill(e.empty([N, H, W, C]), 1),
    w = fill(e.empty([K, K, C, OC]), 2),
    dy = fill(e.empty([N, H, W, OC]), 3);
  const y = e.empty([N, H, W, OC]);
  const dx = e.zeros([N, H, W, C]),
    dw = e.zeros([K, K, C, OC]);
  const ms = {
    forward: time(() => conv2d(x, w, null, options, y)),
    backward_input: time(() => conv2dBackwardInput(dy, w, x.shape, options, dx)),
    backward_filter: time(() => conv2dBackwardFilter(dy, x, w.shape, options, dw)),
    "conv2dBackward (dx+dw, 2 passes)": time(() => conv2dBackward(dy, x, w, options, { dx, dw }, false)),
  };
  results[build] = ms;
  const line = Object.entries(ms).map(
    ([pass, t]) => `${pass} ${(((pass.includes("2 passes") ? 2 : 1) * flops) / (t * 1e6)).toFixed(2)} GFLOP/s (${t.toFixed(2)} ms)`,
  );
  console.log(`${build}:\n  ${line.join("\n  ")}`);
}

console.log(`\ncase: x [${N},${H},${W},${C}] * w [${K},${K},${C},${OC}] pad 1, ${(flops / 1e6).toFixed(1)} MFLOP per pass`);
if (results.scalar) {
  for (const build of ["simd", "relaxed"]) {
    if (!results[build]) continue;
    const ratios = Object.keys(results[build]).map((pass) => `${pass} ${(results.scalar[pass] / results[build][pass]).toFixed(1)}x`);
    console.log(`${build}/scalar speed-up: ${ratios.join("   ")}`);
  }
}
