// Times matrix products (nn.matmul: gemm_f32 through gemmThreaded) on the shapes the GEMM kernels'
// blocking and copy rules were decided on (assembly/gemm.ts, src/threads/parallel.ts), in every
// wasm build this Node can run. Each case is m x k x n with its transposes: C [m, n] = op(A) . op(B).
// Usage: node scripts/bench-gemm.mjs [--build relaxed] [--case strips] [--quick] [--threads 2]
//   --case only cases whose name contains the text (repeatable); --threads times an engine with a
//   thread pool (every product split) as well as one thread.
// (re-runs itself with --experimental-wasm-relaxed-simd on Node 20 so the relaxed build is timed
// too; run `node scripts/build.mjs` first after edits). Timings on a shared machine are noisy.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const FLAG = "--experimental-wasm-relaxed-simd";
if (!process.execArgv.includes(FLAG) && !process.env.BENCH_GEMM_CHILD) {
  const r = spawnSync(process.execPath, [FLAG, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, BENCH_GEMM_CHILD: "1" },
  });
  if (r.status === 0) process.exit(0);
  console.log(`(re-run with ${FLAG} failed; timing without the relaxed build)`);
  process.env.BENCH_GEMM_CHILD = "1";
}

const args = process.argv.slice(2);
const valuesOf = (flag) => args.flatMap((a, i) => (a === flag && args[i + 1] ? [args[i + 1]] : []));
const quick = args.includes("--quick");
const caseFilters = valuesOf("--case").map((s) => s.toLowerCase());
const threads = Number(valuesOf("--threads")[0] ?? 1);

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const nn = await import(pathToFileURL(join(root, "dist", "simdnet.js")).href);
const builds = valuesOf("--build").length ? valuesOf("--build") : nn.BUILDS;

/** [name, m, k, n, transA, transB]. */
const CASES = [
  // NC (assembly/gemm.ts): a KC x NC block of B stays in L2 while the rows of A pass over it
  ["NN blocks: B wider than L2 64x4608x2304", 64, 4608, 2304, false, false],
  // packStrips: B's rows a multiple of 2 KB apart (strips copied from 24 rows of A up)
  ["NN strips 64x256x1024", 64, 256, 1024, false, false],
  ["NN strips 48x512x1024", 48, 512, 1024, false, false],
  ["NN strips 24x1024x4096", 24, 1024, 4096, false, false],
  ["NN strips 96x512x512", 96, 512, 512, false, false],
  ["NN strips, few rows 16x512x2048", 16, 512, 2048, false, false],
  ["NN strips, few rows 8x4096x4096", 8, 4096, 4096, false, false],
  // A^T . B with A's k steps 2 KB apart: a pointwise conv's filter gradient; transposedOperand "a"
  ["TN pointwise filter gradient 512x49x2048", 512, 49, 2048, true, false],
  ["TN transposed A 1024x196x256", 1024, 196, 256, true, false],
  ["TN transposed A 512x196x512", 512, 196, 512, true, false],
  ["TN not transposed 256x196x512", 256, 196, 512, true, false],
  // A . B^T: dots (dots3 in the relaxed build) or, from 256 rows and k <= 512, B transposed first
  ["NT dots 63x1023x4096", 63, 1023, 4096, false, true],
  ["NT dots 64x512x2048", 64, 512, 2048, false, true],
  ["NT dots 196x256x512", 196, 256, 512, false, true],
  ["NT transposed B 3136x256x64", 3136, 256, 64, false, true],
  ["NT im2col rows 64x512x2304", 64, 512, 2304, false, true],
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

for (const build of builds) {
  for (const t of threads > 1 ? [1, threads] : [1]) {
    let e;
    try {
      e = await nn.init(t > 1 ? { build, threads: t } : { build });
    } catch (err) {
      console.log(`${build}: not runnable here (${err.message})`);
      continue;
    }
    if (t > 1) {
      if (e.threads < t) {
        console.log(`${build}, ${t} threads: no thread pool here`);
        e.dispose();
        continue;
      }
      e.minParallelWork = 0;
    }
    console.log(`\n${build} build, ${t} thread${t > 1 ? "s" : ""}`);
    for (const [name, m, k, n, transA, transB] of CASES) {
      const a = fill(e.empty(transA ? [k, m] : [m, k]), 1),
        b = fill(e.empty(transB ? [n, k] : [k, n]), 2),
        c = e.empty([m, n]);
      const ms = time(() => nn.matmul(a, b, { transA, transB }, c));
      const gflops = (2 * m * n * k) / (ms * 1e6);
      console.log(`  ${name.padEnd(42)} ${(ms >= 10 ? ms.toFixed(1) : ms.toFixed(3)).padStart(8)} ms ${gflops.toFixed(1).padStart(6)} GFLOP/s`);
      for (const x of [a, b, c]) x.dispose();
    }
    e.dispose();
  }
}
