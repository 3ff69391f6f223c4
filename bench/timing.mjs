// Timing method (see /work/shared/TOOLCHAIN.md, "The peers"): warm up (>= 3 calls and >= 300 ms),
// then >= 20 timed calls, median of per-call performance.now(); the libraries of a case are
// interleaved: each runs a slice of its timed calls in turn, for several rounds, so a slow phase of
// the machine hits every library alike. Calls that return a promise (onnxruntime-web's run) are awaited
// inside the timed region. A call shorter than MIN_SAMPLE_MS is repeated `inner` times per sample
// (sample / inner is then the per-call time) so performance.now()'s granularity does not dominate.
// The one exception to ">= 20 calls", to keep the whole bench within minutes: a library that needs
// more than `slowMs` for one call (TF.js cpu's Conv2DBackpropFilter takes ~12 s) warms up with that
// one call and gets floor(slowBudgetMs / call) timed calls (at least 1), and a call longer than
// slowBudgetMs by itself is timed once, by that one call (JIT warm-up is noise at that length);
// the table marks such cells.

export const FULL = { warmCalls: 3, warmMs: 300, calls: 20, rounds: 4, minRoundMs: 60, slowMs: 1000, slowBudgetMs: 6000 };
export const QUICK = { warmCalls: 1, warmMs: 40, calls: 5, rounds: 1, minRoundMs: 0, slowMs: 500, slowBudgetMs: 1500 };
const MIN_SAMPLE_MS = 0.05;

const isThenable = (v) => v !== null && typeof v === "object" && typeof v.then === "function";

/** Runs fn `inner` times; returns elapsed ms per call. */
async function sample(fn, inner) {
  const t0 = performance.now();
  for (let i = 0; i < inner; i++) {
    const r = fn();
    if (isThenable(r)) await r;
  }
  return (performance.now() - t0) / inner;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Times several libraries on one case, interleaved.
 * @param {{name: string, fn: () => unknown, enter?: () => Promise<void> | void}[]} entries
 * @param {typeof FULL} method
 * @returns {Promise<Record<string, {ms: number, calls: number, inner: number, reduced: boolean} | {error: string}>>}
 */
export async function timeInterleaved(entries, method = FULL) {
  const state = new Map();
  const out = {};
  // Warm-up, one library after the other (it also picks `inner`).
  for (const entry of entries) {
    try {
      await entry.enter?.();
      const warm = [];
      const t0 = performance.now();
      while (warm.length < method.warmCalls || performance.now() - t0 < method.warmMs) {
        warm.push(await sample(entry.fn, 1));
        if (warm[0] > method.slowMs) break; // one call that long is its own warm-up
      }
      const per = median(warm);
      const calls = per > method.slowMs ? Math.max(1, Math.min(method.calls, Math.floor(method.slowBudgetMs / per))) : method.calls;
      const inner = per >= MIN_SAMPLE_MS ? 1 : Math.ceil(MIN_SAMPLE_MS / Math.max(per, 1e-4));
      state.set(entry.name, { entry, calls, inner, times: per > method.slowBudgetMs ? [per] : [] });
    } catch (err) {
      out[entry.name] = { error: oneLine(err) };
    }
  }
  // Timed rounds: each library runs its slice, then the next library.
  for (let round = 0; round < method.rounds; round++) {
    for (const [name, s] of state) {
      try {
        await s.entry.enter?.();
        const t0 = performance.now();
        const target = Math.min(s.calls, (round + 1) * Math.ceil(s.calls / method.rounds));
        const slow = s.calls < method.calls;
        while (s.times.length < target || (!slow && performance.now() - t0 < method.minRoundMs)) s.times.push(await sample(s.entry.fn, s.inner));
      } catch (err) {
        out[name] = { error: oneLine(err) };
        state.delete(name);
      }
    }
  }
  for (const [name, s] of state) out[name] = { ms: median(s.times), calls: s.times.length * s.inner, inner: s.inner, reduced: s.calls < method.calls };
  return out;
}

/** Median ms per call of one function (used by the peak microbenchmarks). */
export async function timeOne(fn, method = FULL) {
  const r = (await timeInterleaved([{ name: "f", fn }], method)).f;
  if ("error" in r) throw new Error(r.error);
  return r.ms;
}

export function oneLine(err) {
  return String(err?.message ?? err)
    .split("\n")[0]
    .slice(0, 160);
}
