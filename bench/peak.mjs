// The machine's wasm SIMD peak, measured with two microbenchmarks of our own compiled by the
// AssemblyScript compiler's JS API (no file on disk):
//   mul+add   acc_k = f32x4.add(f32x4.mul(acc_k, a), b)      8 FLOP per step, 2 instructions
//   relaxed   acc_k = f32x4.relaxed_madd(acc_k, a, b)         8 FLOP per step, 1 instruction
// Each loop keeps K independent accumulators in flight (K = 6..14, the best K wins) so the
// floating-point pipes, not the dependency chains, are the limit. a < 1 and b > 0 keep every
// lane at a finite fixed point (no denormals, no overflow). Each call runs STEPS iterations.
import asc from "assemblyscript/asc";
import { timeOne } from "./timing.mjs";

const ACCUMULATORS = [6, 8, 10, 12, 14];
const STEPS = 200_000;

/** AssemblyScript source of one loop per accumulator count; `relaxed` picks the fused step. */
function source(relaxed) {
  const step = relaxed ? (k) => `acc${k} = f32x4.relaxed_madd(acc${k}, va, vb);` : (k) => `acc${k} = f32x4.add(f32x4.mul(acc${k}, va), vb);`;
  let s = "";
  for (const K of ACCUMULATORS) {
    const ks = [...Array(K).keys()];
    s += `export function loop${K}(n: i32, a: f32, b: f32): f32 {\n`;
    s += `  const va = f32x4.splat(a);\n  const vb = f32x4.splat(b);\n`;
    for (const k of ks) s += `  let acc${k} = f32x4.splat(${(1 + k / 16).toFixed(4)});\n`;
    s += `  for (let i = 0; i < n; i++) {\n${ks.map((k) => `    ${step(k)}`).join("\n")}\n  }\n`;
    s += `  let sum = acc0;\n${ks.slice(1).map((k) => `  sum = f32x4.add(sum, acc${k});`).join("\n")}\n`;
    s += `  return f32x4.extract_lane(sum, 0) + f32x4.extract_lane(sum, 3);\n}\n`;
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
 * @returns {Promise<Record<"simd" | "relaxed", {gflops: number, accumulators: number, ms: number} | {error: string}>>}
 */
export async function measurePeaks(method) {
  const result = {};
  for (const [name, relaxed] of [["simd", false], ["relaxed", true]]) {
    let instance;
    try {
      instance = (await WebAssembly.instantiate(await compile(relaxed))).instance;
    } catch (err) {
      result[name] = { error: String(err.message).split("\n")[0] };
      continue;
    }
    let best = { gflops: 0, accumulators: 0, ms: 0 };
    for (const K of ACCUMULATORS) {
      const f = instance.exports[`loop${K}`];
      const ms = await timeOne(() => f(STEPS, 0.5, 0.25), method);
      const gflops = (STEPS * K * 8) / (ms * 1e6);
      if (gflops > best.gflops) best = { gflops, accumulators: K, ms };
    }
    result[name] = best;
  }
  return result;
}
