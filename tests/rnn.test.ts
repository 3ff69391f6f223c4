// Recurrent layers (src/ops/rnn.ts, assembly/rnn.ts) in every build: forward against the float64
// reference (tests/reference/rnn.ts), backward through time against finite differences of that
// reference, at hidden sizes below, at and above the 4-lane tile and the 8-column packed strip.
import { describe, expect, it } from "vitest";
import { type Engine, recurrentBackward, gru, lstm, rnn, SimdnetError, type Tensor } from "../src/index.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, uniform } from "./harness.js";
import { type Cell, recurrentRef, recurrentRefLoss, type RefInput, type RefKey, refNumericGrad } from "./reference/rnn.js";

const HIDDEN = [1, 3, 4, 5, 8, 9];
const GATES: Record<Cell, number> = { rnn: 1, gru: 3, lstm: 4 };

interface Case {
  name: string;
  T: number;
  B: number;
  I: number;
  direction: "forward" | "reverse" | "bidirectional";
  batchFirst?: boolean;
  lens?: number[];
  initial?: boolean;
  peepholes?: boolean;
  bias?: boolean;
  relu?: boolean;
  linearBeforeReset?: boolean;
}

const CASES: Case[] = [
  { name: "forward, time-first", T: 3, B: 2, I: 3, direction: "forward", bias: true },
  {
    name: "bidirectional, batch-first, lengths, initial states, peepholes",
    T: 4,
    B: 3,
    I: 5,
    direction: "bidirectional",
    batchFirst: true,
    lens: [4, 2, 1],
    initial: true,
    peepholes: true,
    bias: true,
  },
  {
    name: "reverse, time-first, lengths (one empty), relu / linear_before_reset",
    T: 3,
    B: 3,
    I: 2,
    direction: "reverse",
    lens: [1, 3, 0],
    relu: true,
    linearBeforeReset: true,
    bias: true,
    initial: true,
  },
  { name: "forward, no bias, linear_before_reset", T: 2, B: 5, I: 4, direction: "forward", linearBeforeReset: true },
];

interface Inputs {
  ref: RefInput;
  tensors: { x: Tensor; w: Tensor; r: Tensor; b: Tensor | null; peepholes: Tensor | null; h0: Tensor | null; c0: Tensor | null };
  stateShape: number[];
}

function makeInputs(e: Engine, cell: Cell, H: number, c: Case, seed: number): Inputs {
  const nd = c.direction === "bidirectional" ? 2 : 1,
    GH = GATES[cell] * H;
  const { T, B, I } = c;
  const scale = 1 / Math.sqrt(H + I);
  const x = uniform(T * B * I, seed),
    w = uniform(nd * I * GH, seed + 1, -scale * 2, scale * 2),
    r = uniform(nd * H * GH, seed + 2, -scale * 2, scale * 2);
  const b = c.bias ? uniform(nd * 2 * GH, seed + 3, -0.5, 0.5) : null;
  const p = c.peepholes && cell === "lstm" ? uniform(nd * 3 * H, seed + 4, -0.5, 0.5) : null;
  const h0 = c.initial ? uniform(nd * B * H, seed + 5) : null;
  const c0 = c.initial && cell === "lstm" ? uniform(nd * B * H, seed + 6) : null;
  const stateShape = c.batchFirst ? [B, nd, H] : [nd, B, H];
  const ref: RefInput = {
    cell,
    x,
    T,
    B,
    I,
    H,
    w,
    r,
    b,
    peepholes: p,
    h0,
    c0,
    lens: c.lens ?? null,
    batchFirst: c.batchFirst ?? false,
    directions: c.direction === "bidirectional" ? ["forward", "reverse"] : [c.direction],
    relu: cell === "rnn" && !!c.relu,
    linearBeforeReset: cell === "gru" && !!c.linearBeforeReset,
  };
  const tensors = {
    x: e.tensor(c.batchFirst ? [B, T, I] : [T, B, I], x),
    w: e.tensor([nd, I, GH], w),
    r: e.tensor([nd, H, GH], r),
    b: b ? e.tensor([nd, 2 * GH], b) : null,
    peepholes: p ? e.tensor([nd, 3 * H], p) : null,
    h0: h0 ? e.tensor(stateShape, h0) : null,
    c0: c0 ? e.tensor(stateShape, c0) : null,
  };
  return { ref, tensors, stateShape };
}

function run(cell: Cell, inp: Inputs, c: Case) {
  const { x, w, r, b, peepholes, h0, c0 } = inp.tensors;
  const options = {
    direction: c.direction,
    batchFirst: c.batchFirst,
    sequenceLengths: c.lens,
    initialH: h0,
    initialC: c0,
    peepholes,
    ...(cell === "rnn" ? { activation: c.relu ? ("relu" as const) : ("tanh" as const) } : {}),
    ...(cell === "gru" ? { linearBeforeReset: !!c.linearBeforeReset } : {}),
  };
  return cell === "lstm" ? lstm(x, w, r, b, options) : cell === "gru" ? gru(x, w, r, b, options) : rnn(x, w, r, b, options);
}

function pickIndices(n: number, count: number, seed: number): number[] {
  if (n <= count) return [...Array(n).keys()];
  const r = uniform(count, seed, 0, n);
  return Array.from(r, (v) => Math.floor(v));
}

describe.each(BUILDS_UNDER_TEST)("recurrent layers (%s build)", (build) => {
  for (const cell of ["rnn", "gru", "lstm"] as const) {
    for (const c of CASES) {
      it.each(HIDDEN)(`${cell} ${c.name}: forward = float64 reference, backward = finite differences (hidden %i)`, async (H) => {
        const e = await engineFor(build);
        e.tidy(() => {
          const inp = makeInputs(e, cell, H, c, 100 * H + c.T);
          const out = run(cell, inp, c);
          const ref = recurrentRef(inp.ref);
          expectClose(out.y.data, ref.y, { rtol: 2e-4, atol: 2e-5, label: "y" });
          expectClose(out.yH.data, ref.yH, { rtol: 2e-4, atol: 2e-5, label: "yH" });
          if (cell === "lstm") expectClose(out.yC!.data, ref.yC, { rtol: 2e-4, atol: 2e-5, label: "yC" });

          const wy = uniform(out.y.size, 7 + H),
            wh = uniform(out.yH.size, 8 + H),
            wc = uniform(out.yH.size, 9 + H);
          const grads = recurrentBackward(out.saved, {
            dy: e.tensor(out.y.shape, wy),
            dyH: e.tensor(out.yH.shape, wh),
            dyC: cell === "lstm" ? e.tensor(out.yH.shape, wc) : null,
          });
          const loss = (r: RefInput) => recurrentRefLoss(r, wy, wh, wc);
          const checks: [keyof typeof grads, RefKey][] = [
            ["dx", "x"],
            ["dw", "w"],
            ["dr", "r"],
            ["db", "b"],
            ["dPeepholes", "peepholes"],
            ["dInitialH", "h0"],
            ["dInitialC", "c0"],
          ];
          for (const [gradName, key] of checks) {
            const g = grads[gradName];
            if (!inp.ref[key]) {
              expect(g, `${gradName} without its input`).toBeUndefined();
              continue;
            }
            const analytic = g!.data;
            const picks = pickIndices(analytic.length, 16, H + key.length);
            const numeric = refNumericGrad(inp.ref, key, picks, loss);
            expectClose(
              picks.map((i) => analytic[i]!),
              numeric,
              { rtol: 2e-3, atol: 2e-4, label: `${gradName}` },
            );
          }
        });
      });
    }
  }

  // The LSTM forward's gates use rational tanh / sigmoid approximations (assembly/rnn.ts): swept
  // over pre-activations in [-30, 30] (past their clamp at +-7.9) and [-7.5, 7.5], plain and with
  // peepholes, at hidden sizes below, at and above the 4-lane tile, against float64 at 3e-6.
  it.each([3, 4, 5, 8, 9, 203])("lstm gate activations over saturated pre-activations = float64 reference (hidden %i)", async (H) => {
    const e = await engineFor(build);
    e.tidy(() => {
      const w = new Float32Array(4 * H);
      for (let q = 0; q < 4; q++) for (let j = 0; j < H; j++) w[q * H + j] = -30 + (60 * (((j * (2 * q + 1)) % H) + q / 8)) / Math.max(H - 1, 1);
      const x = new Float32Array([1, 0.25]);
      for (const peep of [null, uniform(3 * H, H, -1, 1)]) {
        const ref = recurrentRef({ cell: "lstm", x, T: 2, B: 1, I: 1, H, directions: ["forward"], w, r: new Float32Array(H * 4 * H), peepholes: peep });
        const out = lstm(e.tensor([2, 1, 1], x), e.tensor([1, 1, 4 * H], w), e.zeros([1, H, 4 * H]), null, {
          peepholes: peep ? e.tensor([1, 3 * H], peep) : null,
        });
        const label = peep ? "with peepholes" : "plain";
        expectClose(out.y.data, ref.y, { rtol: 1e-5, atol: 3e-6, label: `y ${label}` });
        expectClose(out.yC!.data, ref.yC, { rtol: 1e-5, atol: 3e-6, label: `yC ${label}` });
      }
    });
  });

  it("clip clamps the pre-activations (forward) and is refused by backward", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const c: Case = { name: "clip", T: 3, B: 2, I: 3, direction: "bidirectional", bias: true };
      for (const cell of ["rnn", "gru", "lstm"] as const) {
        const inp = makeInputs(e, cell, 5, c, 3);
        const { x, w, r, b } = inp.tensors;
        const big = e.tensor(
          w.shape,
          w.data.map((v) => 8 * v),
        );
        const f = cell === "lstm" ? lstm : cell === "gru" ? gru : rnn;
        const out = f(x, big, r, b, { direction: "bidirectional", clip: 0.5 });
        const ref = recurrentRef({ ...inp.ref, w: big.data, clip: 0.5 });
        expectClose(out.y.data, ref.y, { rtol: 2e-4, atol: 2e-5, label: `${cell} y with clip` });
        expect(() => recurrentBackward(out.saved, {})).toThrow(/clip/);
      }
    });
  });

  // The whole forward recurrence runs in one wasm call (recurrent_f32_forward_steps) for every cell:
  // at batch 1 and 2 its products are single rows across groups of 3, 2 and 1 packed strips (gate
  // widths G*H from 7 to 224 cover full groups and each remainder), at batch 4 4-row tiles; GRU in
  // both linear_before_reset variants.
  it.each([7, 14, 27, 28, 29, 56])("forward at batch 1, 2 and 4 = float64 reference (hidden %i)", async (H) => {
    const e = await engineFor(build);
    e.tidy(() => {
      for (const cell of ["rnn", "gru", "lstm"] as const) {
        for (const lbr of cell === "gru" ? [false, true] : [false]) {
          for (const B of [1, 2, 4]) {
            const c: Case = { name: "blocks", T: 3, B, I: 3, direction: "forward", bias: true, initial: true, linearBeforeReset: lbr };
            const inp = makeInputs(e, cell, H, c, 7 * H + B);
            const out = run(cell, inp, c);
            const ref = recurrentRef(inp.ref);
            const label = `${cell}${lbr ? " lbr" : ""} batch ${B}`;
            expectClose(out.y.data, ref.y, { rtol: 2e-4, atol: 2e-5, label: `y ${label}` });
            if (cell === "lstm") expectClose(out.yC!.data, ref.yC, { rtol: 2e-4, atol: 2e-5, label: `yC ${label}` });
          }
        }
      }
    });
  });

  it("rejects bad shapes and lengths, naming the op and the argument", async () => {
    const e = await engineFor(build);
    e.tidy(() => {
      const x = e.zeros([3, 2, 4]),
        w = e.zeros([1, 4, 20]),
        r = e.zeros([1, 5, 20]);
      expect(() => lstm(x, e.zeros([1, 3, 20]), r)).toThrow(/lstm: w must be \[1, 4, 20\]/);
      expect(() => lstm(x, w, e.zeros([1, 5, 15]))).toThrow(SimdnetError);
      expect(() => lstm(x, w, r, null, { direction: "bidirectional" })).toThrow(/directions 2/);
      expect(() => lstm(x, w, r, null, { sequenceLengths: [3, 4] })).toThrow(/sequenceLengths\[1\] must be an integer in \[0, 3\]/);
      expect(() => lstm(x, w, r, null, { sequenceLengths: [3] })).toThrow(/2 entries/);
      expect(() => lstm(x, w, r, null, { initialH: e.zeros([1, 2, 4]) })).toThrow(/initialH must have shape \[1,2,5\]/);
      expect(() => gru(x, e.zeros([1, 4, 15]), e.zeros([1, 5, 15]), null, { peepholes: e.zeros([1, 15]) })).toThrow(/peepholes are an LSTM input/);
      expect(() => rnn(x, e.zeros([1, 4, 5]), e.zeros([1, 5, 5]), null, { activation: "sigmoid" as "tanh" })).toThrow(/activation must be/);
    });
  });
});
