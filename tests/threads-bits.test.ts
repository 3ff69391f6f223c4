// README promises that a threaded engine's results are bitwise those of one thread. Here two
// engines of each threads build ("threads"; "relaxed-threads", whose dot-product GEMM path splits
// columns at multiples of 24), one with 1 thread and one with 2 (every call split, however
// small), run the same seeded random convolutions (sizes, strides, pads, dilations, groups, the
// three passes), poolings and dense layers; every output bit must agree. The few-channel filter
// gradient once took another kernel whenever the engine had workers (issue 18: 29 of 1,524 shapes
// with C >= 8 and OC >= 8 differed).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  avgPool2d,
  conv2d,
  conv2dBackwardFilter,
  conv2dBackwardInput,
  conv2dOutputShape,
  type Conv2dOptions,
  dense,
  denseBackward,
  type Engine,
  globalAvgPool,
  init,
  maxPool2d,
  type Tensor,
} from "../src/index.js";
import { mulberry32 } from "../src/random.js";
import { THREADS_BUILDS_UNDER_TEST, uniform } from "./harness.js";

const SEED = 20261207;
const CASES = 160;

interface Case {
  x: [number, number, number, number];
  w: [number, number, number, number];
  options: Conv2dOptions;
}

/** Seeded random convolutions, about half with 8 or more input and output channels. */
function convCases(): Case[] {
  const r = mulberry32(SEED);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const cases: Case[] = [];
  while (cases.length < CASES) {
    const wide = r() < 0.5;
    const groups = r() < 0.2 ? int(2, 3) : 1;
    const cg = wide ? int(8, 20) : int(1, 7),
      ocg = wide ? int(8, 20) : int(1, 12);
    const kh = int(1, 5),
      kw = int(1, 5),
      sh = int(1, 2),
      sw = int(1, 2),
      dh = r() < 0.2 ? 2 : 1,
      dw = r() < 0.2 ? 2 : 1;
    const pads: [number, number, number, number] = [int(0, 2), int(0, 2), int(0, 2), int(0, 2)];
    const h = int(1, 14),
      w = int(1, 14);
    if (h + pads[0]! + pads[2]! < dh * (kh - 1) + 1 || w + pads[1]! + pads[3]! < dw * (kw - 1) + 1) continue;
    cases.push({
      x: [int(1, 3), h, w, cg * groups],
      w: [kh, kw, cg, ocg * groups],
      options: { strides: [sh, sw], pads, dilations: [dh, dw], groups },
    });
  }
  return cases;
}

const size = (s: readonly number[]) => s.reduce((a, d) => a * d, 1);

/** Every output of `fn` on engine `e`, copied. */
function outputsOf(e: Engine, fn: (e: Engine) => Tensor[]): Float32Array[] {
  return e.tidy(() => fn(e).map((t) => t.data.slice()));
}

describe.skipIf(typeof SharedArrayBuffer === "undefined").each(THREADS_BUILDS_UNDER_TEST)(
  "%s build: a 2-thread engine's bits are a 1-thread engine's",
  (build) => {
    let one: Engine, two: Engine;
    beforeAll(async () => {
      one = await init({ build, threads: 1 });
      two = await init({ build, threads: 2 });
      two.minParallelWork = 0; // split every call
    });
    afterAll(() => {
      one?.dispose();
      two?.dispose();
    });

    /** Runs `fn` on both engines; reports the first differing element. */
    function same(label: string, fn: (e: Engine) => Tensor[]): string | undefined {
      const a = outputsOf(one, fn),
        b = outputsOf(two, fn);
      for (let i = 0; i < a.length; i++) {
        const bad = a[i]!.findIndex((v, j) => !Object.is(v, b[i]![j]));
        if (bad >= 0) return `${label} output ${i} element ${bad}: 2 threads ${b[i]![bad]}, 1 thread ${a[i]![bad]}`;
      }
      return undefined;
    }

    it(`${CASES} random convolutions, forward, backward_input and backward_filter (seed ${SEED})`, { timeout: 300_000 }, () => {
      expect([one.build, two.build, two.threads]).toEqual([build, build, 2]);
      const bad: string[] = [];
      let wide = 0;
      for (const { x: xs, w: ws, options } of convCases()) {
        if (xs[3] / (options.groups ?? 1) >= 8 && ws[3] / (options.groups ?? 1) >= 8) wide++;
        const ys = conv2dOutputShape(xs, ws, options);
        const label = JSON.stringify({ xs, ws, options });
        const problem = same(label, (e) => {
          const x = e.tensor(xs, uniform(size(xs), 1)),
            w = e.tensor(ws, uniform(size(ws), 2)),
            dy = e.tensor(ys, uniform(size(ys), 3));
          return [
            conv2d(x, w, e.tensor([ws[3]], uniform(ws[3], 4)), options),
            conv2dBackwardInput(dy, w, xs, options, e.tensor(xs, uniform(size(xs), 5))),
            conv2dBackwardFilter(dy, x, ws, options, e.tensor(ws, uniform(size(ws), 6))),
          ];
        });
        if (problem) bad.push(problem);
      }
      expect(wide).toBeGreaterThan(CASES / 4);
      expect(bad, bad.slice(0, 10).join("\n")).toEqual([]);
    });

    it("pools and dense layers", () => {
      const bad: string[] = [];
      for (const [n, h, w, c] of [
        [3, 9, 7, 5],
        [2, 16, 16, 24],
        [5, 4, 4, 64],
      ] as const) {
        const problem = same(`pools of [${n},${h},${w},${c}]`, (e) => {
          const x = e.tensor([n, h, w, c], uniform(n * h * w * c, 7));
          return [maxPool2d(x, { kernel: 3, strides: 2, pads: 1 }).y, avgPool2d(x, { kernel: 2 }), globalAvgPool(x)];
        });
        if (problem) bad.push(problem);
      }
      for (const [batch, inputs, units] of [
        [1, 7, 3],
        [33, 50, 17],
        [64, 300, 120],
      ] as const) {
        const problem = same(`dense ${batch}x${inputs}->${units}`, (e) => {
          const x = e.tensor([batch, inputs], uniform(batch * inputs, 8)),
            w = e.tensor([inputs, units], uniform(inputs * units, 9)),
            b = e.tensor([units], uniform(units, 10));
          const y = dense(x, w, b);
          const g = denseBackward(e.tensor([batch, units], uniform(batch * units, 11)), x, w);
          return [y, g.dx, g.dw, g.db!];
        });
        if (problem) bad.push(problem);
      }
      expect(bad, bad.join("\n")).toEqual([]);
    });
  },
);
