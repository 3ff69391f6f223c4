// Times every convolution algorithm of the registry (src/ops/conv2d_algorithms.ts) that supports a
// pass, forced by name (options.algorithm), on shapes where each entry is the one chosen by shape,
// in every wasm build this Node can run; marks the chosen one with *. GFLOP/s count direct
// convolution's 2*N*OH*OW*OC*KH*KW*C/groups FLOP for every algorithm.
// Usage: node scripts/bench-conv.mjs [--build relaxed] [--case winograd] [--chosen] [--quick]
//   --case  only shapes whose name contains the text (repeatable); --chosen only the chosen algorithm
// (re-runs itself with --experimental-wasm-relaxed-simd on Node 20 so the relaxed build is timed
// too; run `node scripts/build.mjs` first after edits).
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

const args = process.argv.slice(2);
const valuesOf = (flag) => args.flatMap((a, i) => (a === flag && args[i + 1] ? [args[i + 1]] : []));
const quick = args.includes("--quick"),
  chosenOnly = args.includes("--chosen");
const caseFilters = valuesOf("--case").map((s) => s.toLowerCase());

// The bundled package (dist/simdnet.js, made by `node scripts/build.mjs`).
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const nn = await import(pathToFileURL(join(root, "dist", "simdnet.js")).href);
const builds = valuesOf("--build").length ? valuesOf("--build") : nn.BUILDS;

/**
 * [name, x, w, options]: at least one shape where each algorithm is chosen, the README's 28x28x128
 * case, and the shapes the shape rules and kernel comments cite (--case picks them by name).
 */
const SHAPES = [
  ["3x3 28x28x128->128 (README)", [1, 28, 28, 128], [3, 3, 128, 128], { pads: 1 }],
  ["1x1 28x28x256->64", [1, 28, 28, 256], [1, 1, 256, 64], {}],
  ["3x3 1x1-image b16 512", [16, 1, 1, 512], [3, 3, 512, 512], { pads: 1 }],
  ["3x3 groups 2 4x13x13x384", [4, 13, 13, 384], [3, 3, 192, 384], { groups: 2, pads: 1 }],
  ["5x5 groups 2 4x27x27x96->256", [4, 27, 27, 96], [5, 5, 48, 256], { groups: 2, pads: 2 }],
  ["3x3 groups 2 56x56x64->128", [1, 56, 56, 64], [3, 3, 32, 128], { groups: 2, pads: 1 }],
  ["3x3 groups 4 4x14x14x128", [4, 14, 14, 128], [3, 3, 32, 128], { groups: 4, pads: 1 }],
  ["3x3 groups 8 4x14x14x128", [4, 14, 14, 128], [3, 3, 16, 128], { groups: 8, pads: 1 }],
  ["3x3 28x28x512->512", [1, 28, 28, 512], [3, 3, 512, 512], { pads: 1 }],
  ["3x3 tiny b8 2x2x512", [8, 2, 2, 512], [3, 3, 512, 512], { pads: 1 }],
  ["3x3 tiny b16 2x2x256", [16, 2, 2, 256], [3, 3, 256, 256], { pads: 1 }],
  ["3x3 tiny b1 2x2x512", [1, 2, 2, 512], [3, 3, 512, 512], { pads: 1 }],
  ["3x3 tiny b8 3x3x512", [8, 3, 3, 512], [3, 3, 512, 512], { pads: 1 }],
  ["3x3 tiny b16 4x4x256 (stays Winograd)", [16, 4, 4, 256], [3, 3, 256, 256], { pads: 1 }],
  ["3x3 winograd b1 7x7x512", [1, 7, 7, 512], [3, 3, 512, 512], { pads: 1 }],
  ["3x3 winograd b4 7x7x512", [4, 7, 7, 512], [3, 3, 512, 512], { pads: 1 }],
  ["3x3 winograd b6 7x7x512", [6, 7, 7, 512], [3, 3, 512, 512], { pads: 1 }],
  ["3x3 winograd b1 14x14x512", [1, 14, 14, 512], [3, 3, 512, 512], { pads: 1 }],
  ["3x3 winograd b2 4x4x512", [2, 4, 4, 512], [3, 3, 512, 512], { pads: 1 }],
  ["3x3 winograd b1 112x112x64", [1, 112, 112, 64], [3, 3, 64, 64], { pads: 1 }],
  ["3x3 14x14x256->256", [1, 14, 14, 256], [3, 3, 256, 256], { pads: 1 }],
  ["3x3 7x7x512->512", [1, 7, 7, 512], [3, 3, 512, 512], { pads: 1 }],
  ["3x3 56x56x64->64", [1, 56, 56, 64], [3, 3, 64, 64], { pads: 1 }],
  ["3x3 s2 4x14x14x256->512", [4, 14, 14, 256], [3, 3, 256, 512], { strides: 2, pads: 1 }],
  ["7x7 s2 stem 224x224x3->64", [1, 224, 224, 3], [7, 7, 3, 64], { strides: 2, pads: 3 }],
  ["3x3 stem 224x224x3->64", [1, 224, 224, 3], [3, 3, 3, 64], { pads: 1 }],
  ["11x11 s4 stem 227x227x3->96", [1, 227, 227, 3], [11, 11, 3, 96], { strides: 4 }],
  ["3x3 s2 16x4x4x256->512", [16, 4, 4, 256], [3, 3, 256, 512], { strides: 2, pads: 1 }],
  ["3x3 s2 14x14x256->512", [1, 14, 14, 256], [3, 3, 256, 512], { strides: 2, pads: 1 }],
  ["3x3 s2 28x28x128->256", [1, 28, 28, 128], [3, 3, 128, 256], { strides: 2, pads: 1 }],
  ["1x1 s2 16x4x4x256->512", [16, 4, 4, 256], [1, 1, 256, 512], { strides: 2 }],
  ["1x1 s2 56x56x256->512", [1, 56, 56, 256], [1, 1, 256, 512], { strides: 2 }],
  ["1x1 s2 b8 28x28x64->128", [8, 28, 28, 64], [1, 1, 64, 128], { strides: 2 }],
  ["1x1 s2 112x112x16->32", [1, 112, 112, 16], [1, 1, 16, 32], { strides: 2 }],
  ["3x3 s2 112x112x64->64", [1, 112, 112, 64], [3, 3, 64, 64], { strides: 2, pads: 1 }],
  ["4x4 s2 4x128x128x16->32", [4, 128, 128, 16], [4, 4, 16, 32], { strides: 2, pads: 1 }],
  ["4x4 s2 4x64x64x32->32", [4, 64, 64, 32], [4, 4, 32, 32], { strides: 2, pads: 1 }],
  ["5x5 LeNet b64 28x28x1->6", [64, 28, 28, 1], [5, 5, 1, 6], { pads: 2 }],
  ["5x5 LeNet b64 14x14x6->16", [64, 14, 14, 6], [5, 5, 6, 16], {}],
  ["5x5 28x28x64->64", [1, 28, 28, 64], [5, 5, 64, 64], { pads: 2 }],
  ["depthwise 3x3 56x56x128", [1, 56, 56, 128], [3, 3, 1, 128], { groups: 128, pads: 1 }],
  ["depthwise 3x3 112x112x32", [1, 112, 112, 32], [3, 3, 1, 32], { groups: 32, pads: 1 }],
  ["depthwise 3x3 7x7x1024", [1, 7, 7, 1024], [3, 3, 1, 1024], { groups: 1024, pads: 1 }],
  ["3x3 s2 56x56x64->128", [1, 56, 56, 64], [3, 3, 64, 128], { strides: 2, pads: 1 }],
].filter(([name]) => caseFilters.length === 0 || caseFilters.some((f) => name.toLowerCase().includes(f)));

/** Median milliseconds per call: warm up (>= 3 calls and >= 300 ms), then >= 20 timed calls (>= 1 s); --quick: 1 and 5. */
function time(fn) {
  let t0 = performance.now();
  for (let i = 0; i < (quick ? 1 : 3) || (!quick && performance.now() - t0 < 300); i++) fn();
  const times = [];
  t0 = performance.now();
  while (times.length < (quick ? 5 : 20) || (!quick && performance.now() - t0 < 1000)) {
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

const results = [];
for (const build of builds) {
  let e;
  try {
    e = await nn.init({ build });
  } catch (err) {
    console.log(`${build}: not runnable here (${err.message})`);
    continue;
  }
  console.log(`\n${build} build`);
  for (const [name, xs, ws, options] of SHAPES) {
    const ys = nn.conv2dOutputShape(xs, ws, options);
    const flops = 2 * ys.reduce((a, d) => a * d, 1) * ws[0] * ws[1] * ws[2];
    const x = fill(e.empty(xs), 1),
      w = fill(e.empty(ws), 2),
      dy = fill(e.empty(ys), 3);
    const y = e.empty(ys),
      dx = e.zeros(xs),
      dw = e.zeros(ws);
    for (const pass of ["forward", "backward_input", "backward_filter"]) {
      const algorithms = nn.conv2dAlgorithms(e, xs, ws, options, pass).filter((a) => !chosenOnly || a.chosen);
      const cells = [];
      for (const a of algorithms) {
        const ws_ = a.workspaceBytes > 0 ? e.empty([a.workspaceBytes / 4]) : undefined;
        const opts = { ...options, algorithm: a.name, workspace: ws_ };
        const call =
          pass === "forward"
            ? () => nn.conv2d(x, w, null, opts, y)
            : pass === "backward_input"
              ? () => nn.conv2dBackwardInput(dy, w, xs, opts, dx)
              : () => nn.conv2dBackwardFilter(dy, x, ws, opts, dw);
        const ms = time(call);
        ws_?.dispose();
        results.push({ build, shape: name, pass, algorithm: a.name, chosen: a.chosen, ms, gflops: flops / (ms * 1e6) });
        cells.push(
          `${a.chosen ? "*" : ""}${a.name.replace("conv2d.", "")} ${ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)} ms ${(flops / (ms * 1e6)).toFixed(1)} GF/s`,
        );
      }
      console.log(`  ${name.padEnd(30)} ${pass.padEnd(15)} ${cells.join(" | ")}`);
    }
    for (const t of [x, w, dy, y, dx, dw]) t.dispose();
  }
}

console.log("\n* = the algorithm chosen by shape (the first eligible entry of the registry); every algorithm that supports the pass is timed, forced by name.");
const readme = results.filter((r) => r.shape.includes("README") && r.chosen);
if (readme.length) {
  console.log("README case, chosen algorithm, GFLOP/s:");
  for (const build of builds) {
    const line = readme.filter((r) => r.build === build).map((r) => `${r.pass} ${r.gflops.toFixed(2)} (${r.algorithm}, ${r.ms.toFixed(2)} ms)`);
    if (line.length) console.log(`  ${build}: ${line.join("   ")}`);
  }
}
