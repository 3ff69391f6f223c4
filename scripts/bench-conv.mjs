// Times conv2d forward, backward_input and backward_filter in every wasm build this Node can run.
// Case: x [1,28,28,128], w [3,3,128,128], pad 1 (batch 1). FLOPs per pass = 2*N*OH*OW*OC*KH*KW*C/groups.
// Usage: node scripts/bench-conv.mjs   (re-runs itself with --experimental-wasm-relaxed-simd on Node 20
// so the relaxed build is timed too; run `node scripts/build.mjs --wasm-only` first after kernel edits).
import * as esbuild from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
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

// A tiny esbuild step: bundle the TypeScript sources (which inline build/*.wasm) into a temp module.
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dir = mkdtempSync(join(tmpdir(), "bench-conv-"));
const bundle = join(dir, "simdnet.mjs");
await esbuild.build({ entryPoints: [join(root, "src/index.ts")], bundle: true, format: "esm", target: "es2022", platform: "neutral", outfile: bundle, logLevel: "warning" });
const simdnet = await import(pathToFileURL(bundle).href);
rmSync(dir, { recursive: true, force: true });
const { init, conv2d, conv2dBackward, BUILDS } = simdnet;

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
  const x = fill(e.empty([N, H, W, C]), 1), w = fill(e.empty([K, K, C, OC]), 2), dy = fill(e.empty([N, H, W, OC]), 3);
  const y = e.empty([N, H, W, OC]);
  const dx = e.zeros([N, H, W, C]), dw = e.zeros([K, K, C, OC]);
  // The public conv2dBackward runs both backward kernels (plus bias); to time each pass alone the
  // bench calls the kernels directly, with its own geometry block in the documented field order
  // (readGeometry in assembly/conv2d.ts; GEOMETRY_FIELDS in src/ops/conv2d.ts).
  const geom = { n: N, h: H, w: W, c: C, oh: H, ow: W, oc: OC, kh: K, kw: K, sh: 1, sw: 1, pt: 1, pl: 1, dh: 1, dw: 1, groups: 1 };
  const geomPtr = e.heap.alloc(64, "bench geometry");
  const wt = e.empty([w.size]); // backward_input workspace: the repacked weights
  Object.values(geom).forEach((v, i) => (e.heap.i32[(geomPtr >> 2) + i] = v));
  const k = e.kernels;
  const ms = {
    forward: time(() => conv2d(x, w, null, options, y)),
    backward_input: time(() => k.conv2d_f32_backward_input(dx.ptr, dy.ptr, w.ptr, wt.ptr, geomPtr)),
    backward_filter: time(() => k.conv2d_f32_backward_filter(dw.ptr, dy.ptr, x.ptr, geomPtr)),
    "conv2dBackward (dx+dw, 2 passes)": time(() => conv2dBackward(dy, x, w, options, { dx, dw }, false)),
  };
  results[build] = ms;
  const line = Object.entries(ms).map(([pass, t]) => `${pass} ${((pass.includes("2 passes") ? 2 : 1) * flops / (t * 1e6)).toFixed(2)} GFLOP/s (${t.toFixed(2)} ms)`);
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
