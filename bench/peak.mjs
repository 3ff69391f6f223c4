// The machine's wasm SIMD peak, measured with two microbenchmarks of our own compiled by the
// AssemblyScript compiler's JS API (no file on disk):
//   mul+add   f32x4.add + f32x4.mul      8 FLOP per step, 2 instructions
//   relaxed   f32x4.relaxed_madd          8 FLOP per step, 1 instruction (an FMA where the CPU has one)
// each in two forms, with K independent accumulators in flight (K = 8, 10, 12):
//   chained   acc_k = acc_k * a + b                 (the multiply is on the dependency chain)
//   fed       acc_k = acc_k + load(p + 16k) * b     (the kernels' pattern: a vector from L1 times a
//                                                   broadcast; the multiply is off the chain)
// The best form and K win: the peak is what the pipes can do, not what one chain can. a < 1 and b > 0
// keep every lane finite (no denormals, no overflow). Each call runs STEPS iterations.
import asc from "assemblyscript/asc";
import { timeOne } from "./timing.mjs";

const ACCUMULATORS = [8, 10, 12]; // 6 is chain-bound, 14 spills (16 xmm registers) on x86-64
const STEPS = 200_000;

/** AssemblyScript source of one loop per form and accumulator count; `relaxed` picks the fused step. */
function source(relaxed) {
  const chained = relaxed ? (k) => `acc${k} = f32x4.relaxed_madd(acc${k}, va, vb);` : (k) => `acc${k} = f32x4.add(f32x4.mul(acc${k}, va), vb);`;
  const fed = relaxed
    ? (k) => `acc${k} = f32x4.relaxed_madd(v128.load(p, ${16 * k}), vb, acc${k});`
    : (k) => `acc${k} = f32x4.add(acc${k}, f32x4.mul(v128.load(p, ${16 * k}), vb));`;
  // 16 blocks of 16 vectors (4 KiB, stays in L1); the loop walks them so no load is loop-invariant.
  let s = `const buf = memory.data(16 * 16 * 16, 16);\n`;
  s += `export function init(): void { for (let i = 0; i < 16 * 16 * 4; i++) store<f32>(buf + (<usize>i << 2), 0.25 + <f32>(i & 7) / 32.0); }\n`;
  for (const [form, step] of [
    ["chained", chained],
    ["fed", fed],
  ]) {
    for (const K of ACCUMULATORS) {
      const ks = [...Array(K).keys()];
      s += `export function ${form}${K}(n: i32, a: f32, b: f32): f32 {\n`;
      s += `  const va = f32x4.splat(a);\n  const vb = f32x4.splat(b);\n`;
      for (const k of ks) s += `  let acc${k} = f32x4.splat(${(1 + k / 16).toFixed(4)});\n`;
      s += `  for (let i = 0; i < n; i++) {\n    const p = buf + (<usize>(i & 15) << 8);\n${ks.map((k) => `    ${step(k)}`).join("\n")}\n  }\n`;
      s += `  let sum = acc0;\n${ks
        .slice(1)
        .map((k) => `  sum = f32x4.add(sum, acc${k});`)
        .join("\n")}\n`;
      s += `  return f32x4.extract_lane(sum, 0) + f32x4.extract_lane(sum, 3);\n}\n`;
    }
  }
  return s;
}

/** Compiles one microbenchmark module; returns its bytes. */
async function compile(relaxed) {
  const { binary, error, stderr } = await asc.compileString(source(relaxed), {
    optimizeLevel: 3,
    shrinkLevel: 0,
    runtime: "stub",
    enable: relaxed ? ["simd", "relaxed-simd"] : ["simd"],
  });
  if (error || !binary) throw new Error(`peak microbenchmark failed to compile: ${error?.message}\n${stderr}`);
  return binary;
}

/**
 * Measures both peaks (GFLOP/s of one core) with the bench's timing method.
 * @returns {Promise<Record<"simd" | "relaxed", {gflops: number, form: string, accumulators: number, ms: number} | {error: string}>>}
 */
export async function measurePeaks(method) {
  const result = {};
  for (const [name, relaxed] of [
    ["simd", false],
    ["relaxed", true],
  ]) {
    let instance;
    try {
      instance = (await WebAssembly.instantiate(await compile(relaxed))).instance;
    } catch (err) {
      result[name] = { error: String(err.message).split("\n")[0] };
      continue;
    }
    instance.exports.init();
    let best = { gflops: 0, form: "", accumulators: 0, ms: 0 };
    for (const form of ["chained", "fed"]) {
      for (const K of ACCUMULATORS) {
        const f = instance.exports[`${form}${K}`];
        const ms = await timeOne(() => f(STEPS, 0.5, 0.25), method);
        const gflops = (STEPS * K * 8) / (ms * 1e6);
        if (gflops > best.gflops) best = { gflops, form, accumulators: K, ms };
      }
    }
    result[name] = best;
  }
  return result;
}
