// Sequence layers in Models (src/model/rnn-layers.ts): recurrent layers against the float64
// reference through a planned Model (outputs and parameter gradients, with a lengths input),
// stateful chunks (truncated BPTT) against one whole sequence, embedding, timeDense, orthogonal
// init, and a small LSTM that must learn to remember.
import { describe, expect, it } from "vitest";
import { Adam, createModel, type Engine, type GraphSpec, softmaxCrossEntropy, softmaxCrossEntropyBackward, zeroGrads } from "../src/index.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, expectGradientMatches, uniform } from "./harness.js";
import { recurrentRef, recurrentRefLoss, type RefInput, refNumericGrad } from "./reference/rnn.js";

function picks(n: number, count: number, seed: number): number[] {
  if (n <= count) return [...Array(n).keys()];
  return Array.from(uniform(count, seed, 0, n), (v) => Math.floor(v));
}

describe.each(BUILDS_UNDER_TEST)("sequence layers in models (%s build)", (build) => {
  for (const cell of ["rnn", "gru", "lstm"] as const) {
    for (const sequences of [true, false]) {
      it(`${cell} (bidirectional, lengths input, returnSequences ${sequences}): outputs and parameter gradients = float64 reference`, async () => {
        const e = await engineFor(build);
        const [T, B, I, H] = [4, 3, 3, 5];
        const spec: GraphSpec = {
          inputs: [
            { name: "x", shape: [T, I] },
            { name: "len", shape: [1] },
          ],
          nodes: [
            {
              name: "rec",
              type: cell,
              inputs: ["x", "len"],
              units: H,
              direction: "bidirectional",
              returnSequences: sequences,
              ...(cell === "lstm" ? { peepholes: true } : cell === "gru" ? { linearBeforeReset: true } : { nonlinearity: "tanh" }),
            },
          ],
          outputs: ["rec"],
        };
        const model = createModel(e, spec, { seed: 3 });
        try {
          const x = uniform(B * T * I, 11),
            lens = [4, 1, 3];
          // non-zero biases and peepholes so their gradients are exercised
          const params = new Map(model.parameters().map((p) => [p.name.split(".")[1]!, p.value]));
          for (const name of ["bias", "peepholes"]) params.get(name)?.set(uniform(params.get(name)!.size, 5, -0.5, 0.5));
          const y = model.forward({ x, len: lens }).toArray();
          const ref: RefInput = {
            cell,
            x,
            T,
            B,
            I,
            H,
            directions: ["forward", "reverse"],
            batchFirst: true,
            lens,
            w: params.get("weight")!.toArray(),
            r: params.get("recurrence")!.toArray(),
            b: params.get("bias")!.toArray(),
            peepholes: params.get("peepholes")?.toArray() ?? null,
            linearBeforeReset: cell === "gru",
          };
          const out = recurrentRef(ref);
          expectClose(y, sequences ? out.y : out.yH, { rtol: 2e-4, atol: 2e-5, label: "output" });

          const wy = uniform(y.length, 12);
          model.zeroGrads();
          model.backward(wy);
          const loss = (r: RefInput) => recurrentRefLoss(r, sequences ? wy : null, sequences ? null : wy, null);
          for (const [name, key] of [
            ["weight", "w"],
            ["recurrence", "r"],
            ["bias", "b"],
            ["peepholes", "peepholes"],
          ] as const) {
            const p = model.parameters().find((q) => q.name === `rec.${name}`);
            if (!p) continue;
            const idx = picks(p.grad.size, 16, name.length);
            expectClose(
              idx.map((i) => p.grad.data[i]!),
              refNumericGrad(ref, key, idx, loss),
              { rtol: 2e-3, atol: 2e-4, label: `d${name}` },
            );
          }
          const dx = model.layerGrad("x").toArray();
          const idx = picks(dx.length, 16, 3);
          expectClose(
            idx.map((i) => dx[i]!),
            refNumericGrad(ref, "x", idx, loss),
            { rtol: 2e-3, atol: 2e-4, label: "dx" },
          );
        } finally {
          model.dispose();
        }
      });
    }

    it(`${cell} stateful: two chunks carry the state like one sequence; resetStates starts again`, async () => {
      const e = await engineFor(build);
      const [T, B, I, H] = [6, 2, 3, 9];
      const whole = createModel(e, [{ type: cell, units: H, returnSequences: true }], { inputShape: [T, I], seed: 4, batch: B });
      const chunked = createModel(e, [{ type: cell, units: H, returnSequences: true, stateful: true }], { inputShape: [T / 2, I], seed: 4, batch: B });
      try {
        const x = uniform(B * T * I, 2);
        const y = whole.forward(x).toArray();
        const half = (k: number) => {
          const v = new Float32Array(B * (T / 2) * I);
          for (let b = 0; b < B; b++) v.set(x.subarray((b * T + k * (T / 2)) * I, (b * T + (k + 1) * (T / 2)) * I), b * (T / 2) * I);
          return v;
        };
        const expectHalf = (got: ArrayLike<number>, k: number) => {
          const want: number[] = [];
          for (let b = 0; b < B; b++) want.push(...y.subarray((b * T + k * (T / 2)) * H, (b * T + (k + 1) * (T / 2)) * H));
          expectClose(got, want, { rtol: 1e-5, atol: 1e-6, label: `chunk ${k}` });
        };
        expectHalf(chunked.forward(half(0)).toArray(), 0);
        expectHalf(chunked.forward(half(1)).toArray(), 1);
        chunked.resetStates();
        expectHalf(chunked.forward(half(0)).toArray(), 0);
        // truncated BPTT: the gradient stops at the chunk's start, and training steps run
        chunked.backward(uniform(B * (T / 2) * H, 3));
        expect(Number.isFinite(chunked.parameters()[0]!.grad.data[0]!)).toBe(true);
      } finally {
        whole.dispose();
        chunked.dispose();
      }
    });
  }

  it("embedding: rows of the table forward, scatter-added gradients (repeated ids), bad ids rejected", async () => {
    const e = await engineFor(build);
    const model = createModel(e, [{ type: "embedding", vocab: 7, dim: 5 }], { inputShape: [4] });
    try {
      const ids = [3, 0, 3, 6, 1, 1, 2, 5];
      const y = model.forward(ids).toArray();
      const table = model.parameters()[0]!.value.toArray();
      expectClose(
        y,
        ids.flatMap((id) => Array.from(table.subarray(id * 5, id * 5 + 5))),
        { rtol: 0, atol: 0 },
      );
      const dy = uniform(y.length, 1);
      model.zeroGrads();
      model.backward(dy);
      const want = new Float64Array(35);
      ids.forEach((id, n) => {
        for (let j = 0; j < 5; j++) want[id * 5 + j] = want[id * 5 + j]! + dy[n * 5 + j]!;
      });
      expectClose(model.parameters()[0]!.grad.data, want, { rtol: 1e-6, atol: 1e-7 });
      expect(() => model.forward([3, 0, 7, 6, 1, 1, 2, 5])).toThrow(/ids\[2\] is 7, not an integer in \[0, 7\)/);
      expect(() => model.forward([3, 0.5, 2, 6, 1, 1, 2, 5])).toThrow(/ids\[1\] is 0.5/);
    } finally {
      model.dispose();
    }
  });

  it("timeDense applies one dense layer at every step (forward, finite-difference gradients)", async () => {
    const e = await engineFor(build);
    const model = createModel(e, [{ type: "timeDense", units: 9 }], { inputShape: [3, 5], seed: 2 });
    try {
      const x = uniform(2 * 3 * 5, 4);
      const y = model.forward(x).toArray();
      const [w, b] = model.parameters().map((p) => p.value.toArray());
      const want: number[] = [];
      for (let r = 0; r < 6; r++)
        for (let o = 0; o < 9; o++) {
          let s = b![o]!;
          for (let i = 0; i < 5; i++) s += x[r * 5 + i]! * w![i * 9 + o]!;
          want.push(s);
        }
      expectClose(y, want, { rtol: 1e-5, atol: 1e-6 });
      const dy = uniform(y.length, 5);
      model.zeroGrads();
      model.backward(dy);
      const loss = () => Array.from(model.forward(x).data).reduce((s, v, i) => s + v * dy[i]!, 0);
      const wp = model.parameters()[0]!;
      expectGradientMatches(wp.value, wp.grad.toArray(), loss, { label: "timeDense weight" });
    } finally {
      model.dispose();
    }
  });

  it("orthogonal init: every gate block of the recurrence is orthogonal, the same bits in every build", async () => {
    const e = await engineFor(build);
    const H = 12;
    const model = createModel(e, [{ type: "lstm", units: H, direction: "bidirectional" }], { inputShape: [2, 3], seed: 9 });
    try {
      const r = model
        .parameters()
        .find((p) => p.name.endsWith("recurrence"))!
        .value.toArray();
      const GH = 4 * H;
      for (let d = 0; d < 2; d++)
        for (let q = 0; q < 4; q++) {
          for (let a = 0; a < H; a++)
            for (let c = 0; c < H; c++) {
              let s = 0;
              for (let i = 0; i < H; i++) s += r[(d * H + i) * GH + q * H + a]! * r[(d * H + i) * GH + q * H + c]!;
              expect(Math.abs(s - (a === c ? 1 : 0))).toBeLessThan(1e-5);
            }
        }
      const other = await engineFor(BUILDS_UNDER_TEST[0]!);
      const m2 = createModel(other, [{ type: "lstm", units: H, direction: "bidirectional" }], { inputShape: [2, 3], seed: 9 });
      expect(Array.from(m2.parameters().find((p) => p.name.endsWith("recurrence"))!.value.data)).toEqual(Array.from(r));
      m2.dispose();
    } finally {
      model.dispose();
    }
  });
});

/** An LSTM must carry information over 12 steps: the class is the sign (+-1) of the first input, then noise. */
async function rememberFirst(e: Engine): Promise<number> {
  const [T, B] = [12, 32];
  const model = createModel(
    e,
    [
      { type: "lstm", units: 16 },
      { type: "dense", units: 2 },
    ],
    { inputShape: [T, 1], seed: 1, batch: B },
  );
  const opt = new Adam({ lr: 0.02, clipNorm: 5 });
  const labels = e.ints([B]),
    probs = e.zeros([B, 2]),
    dlogits = e.zeros([B, 2]);
  let accuracy = 0;
  try {
    for (let step = 0; step < 100; step++) {
      const x = uniform(B * T, 100 + step);
      for (let b = 0; b < B; b++) {
        x[b * T] = x[b * T]! > 0 ? 1 : -1;
        labels.ints[b] = x[b * T]! > 0 ? 1 : 0;
      }
      const logits = model.forward(x, { training: true });
      softmaxCrossEntropy(logits, labels, { probs });
      e.kernels.fill_f32(dlogits.ptr, 0, dlogits.size);
      softmaxCrossEntropyBackward(probs, labels, undefined, dlogits);
      zeroGrads(model.parameters());
      model.backward(dlogits, { inputGradient: false });
      opt.step(model.parameters());
      if (step >= 90) {
        let right = 0;
        for (let b = 0; b < B; b++) right += (probs.data[b * 2 + 1]! > 0.5 ? 1 : 0) === labels.ints[b] ? 1 : 0;
        accuracy += right / B / 10;
      }
    }
  } finally {
    model.dispose();
    opt.dispose();
    for (const t of [labels, probs, dlogits]) t.dispose();
  }
  return accuracy;
}

describe("training through time", () => {
  it("an LSTM learns to remember the first of 12 inputs (relaxed or SIMD build)", async () => {
    const e = await engineFor(BUILDS_UNDER_TEST[BUILDS_UNDER_TEST.length - 1]!);
    expect(await rememberFirst(e)).toBeGreaterThan(0.95);
  });
});
