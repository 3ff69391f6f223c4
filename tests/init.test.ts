import { describe, expect, it } from "vitest";
import * as nn from "../src/index.js";
import { mix } from "./reference/random.js";
import { BUILDS_UNDER_TEST, engineFor } from "./harness.js";

// Reference of the stream documented in assembly/random.ts, written from the comment, in float64:
// pair j: u = ((h(2j) >>> 8) + 1) / 2^24, v = (h(2j+1) >>> 8) / 2^24, h(i) = mix(mix(i) + mix(seed ^
// 0x9e3779b9)); out[2j] = std r cos(2 pi v), out[2j+1] = std r sin(2 pi v), r = sqrt(-2 ln u).
function normalRef(first: number, n: number, std: number, seed: number): number[] {
  const key = mix((seed ^ 0x9e3779b9) >>> 0);
  const h = (i: number) => mix((mix(i) + key) >>> 0);
  return Array.from({ length: n }, (_, k) => {
    const i = first + k,
      j = i >> 1;
    const u = ((h(2 * j) >>> 8) + 1) / 2 ** 24,
      v = (h(2 * j + 1) >>> 8) / 2 ** 24;
    const r = std * Math.sqrt(-2 * Math.log(u));
    return i % 2 === 0 ? r * Math.cos(2 * Math.PI * v) : r * Math.sin(2 * Math.PI * v);
  });
}

/** fill_normal_f32 on a fresh tensor of n values, elements first .. first + n - 1 of the stream. */
async function fill(build: nn.BuildName, n: number, std: number, seed: number, first = 0): Promise<Float32Array> {
  const e = await engineFor(build);
  return e.tidy(() => {
    const t = e.empty([n + 2]);
    t.data.fill(-7);
    e.kernels.fill_normal_f32(t.ptr, n, std, seed, first);
    const out = t.toArray() as Float32Array;
    expect(out[n]).toBe(-7); // writes nothing past n
    return out.subarray(0, n);
  });
}

describe("fill_normal_f32 (weight initialisation)", () => {
  const SIZES = [1, 2, 3, 7, 8, 9, 15, 16, 17, 33, 1000];

  it.each(SIZES)("matches float64 Box-Muller of the documented stream in every build, n=%i", async (n) => {
    for (const build of BUILDS_UNDER_TEST) {
      const got = await fill(build, n, 0.5, 42 + n);
      const ref = normalRef(0, n, 0.5, 42 + n);
      // f32 ln, sin and cos polynomials: a few ulps of |values| <= 0.5 * 5.77
      ref.forEach((r, i) => expect(Math.abs(got[i]! - r), `${build} element ${i}`).toBeLessThan(1e-6 + 1e-6 * Math.abs(r)));
    }
  });

  it("gives the same bits in every build, however the stream is cut into calls", async () => {
    const n = 4099;
    const whole = await Promise.all(BUILDS_UNDER_TEST.map((b) => fill(b, n, 1.25, 9)));
    for (const w of whole.slice(1)) expect(w).toEqual(whole[0]);
    for (const build of BUILDS_UNDER_TEST) {
      for (const [first, len] of [
        [2, 5],
        [8, 16],
        [100, 9],
        [4090, 9],
      ] as const) {
        expect(await fill(build, len, 1.25, 9, first), `${build} from ${first}`).toEqual(whole[0]!.subarray(first, first + len));
      }
    }
  });

  it("draws standard normals: mean, variance, tails; another seed another stream", async () => {
    const n = 1 << 20;
    const v = await fill(BUILDS_UNDER_TEST.at(-1)!, n, 1, 2024);
    let s = 0,
      s2 = 0,
      s4 = 0,
      in1 = 0,
      in2 = 0,
      max = 0;
    for (const x of v) {
      s += x;
      s2 += x * x;
      s4 += x ** 4;
      if (Math.abs(x) < 1) in1++;
      if (Math.abs(x) < 2) in2++;
      max = Math.max(max, Math.abs(x));
    }
    // standard errors at n = 2^20: mean 0.001, variance 0.0014, fractions 0.0005, kurtosis 0.005
    expect(Math.abs(s / n)).toBeLessThan(0.005);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.007);
    expect(Math.abs(s4 / n - 3)).toBeLessThan(0.05);
    expect(Math.abs(in1 / n - 0.682689)).toBeLessThan(0.003);
    expect(Math.abs(in2 / n - 0.9545)).toBeLessThan(0.002);
    expect(max).toBeLessThanOrEqual(Math.sqrt(2 * Math.log(2 ** 24)) + 1e-5);
    const other = await fill(BUILDS_UNDER_TEST.at(-1)!, 64, 1, 2025);
    expect(other).not.toEqual(v.subarray(0, 64));
  });

  it("a model's parameter does not depend on which other parameters were given", async () => {
    const e = await engineFor(BUILDS_UNDER_TEST.at(-1)!);
    const spec = nn.lenet5({ inputSize: 12 });
    const a = new nn.Model(e, spec, { seed: 3 });
    const b = new nn.Model(e, spec, { seed: 3, initialParams: { "conv1.weight": new Float32Array(150).fill(0.25) } });
    const byName = (m: nn.Model) => new Map(m.parameters().map((p) => [p.name, p.value.toArray()]));
    const pa = byName(a),
      pb = byName(b);
    expect(Array.from(pb.get("conv1.weight")!).every((x) => x === 0.25)).toBe(true);
    for (const name of ["conv2.weight", "dense1.weight", "dense3.weight"]) expect(pb.get(name), name).toEqual(pa.get(name));
    // and two weight tensors of one model are different streams
    expect(pa.get("dense2.weight")!.subarray(0, 100)).not.toEqual(pa.get("dense1.weight")!.subarray(0, 100));
    a.dispose();
    b.dispose();
  });
});
