// Threads: conv3x3 28x28x128->128 forward and backward (dx + dw) on one engine with a 2-thread pool,
// timed with the pool bypassed (minParallelWork = Infinity: one thread) and used (0), interleaved.
// Issue 6's target: 2 threads >= 1.7x one thread. Needs two idle cores to show it.
import { timeInterleaved } from "./timing.mjs";

export async function measureThreads(nn, method) {
  const e = await nn.init({ threads: 2 });
  if (e.threads < 2) {
    e.dispose?.();
    return { error: `no thread pool here: ${e.threadsReason}` };
  }
  try {
    const xs = [1, 28, 28, 128],
      ws = [3, 3, 128, 128],
      opts = { pads: 1 };
    const fill = (t, seed) => t.set(Float32Array.from({ length: t.size }, (_, i) => Math.sin(seed * 7919 + i * 0.37)));
    const x = fill(e.empty(xs), 1),
      w = fill(e.empty(ws), 2);
    const y = nn.conv2d(x, w, null, opts),
      dy = fill(e.empty(y.shape), 3);
    const dx = e.zeros(xs),
      dw = e.zeros(ws);
    const threads = (n) => () => {
      e.minParallelWork = n === 1 ? Infinity : 0;
    };
    const forward = await timeInterleaved(
      [
        { name: "1", enter: threads(1), fn: () => nn.conv2d(x, w, null, opts, y) },
        { name: "2", enter: threads(2), fn: () => nn.conv2d(x, w, null, opts, y) },
      ],
      method,
    );
    const backward = await timeInterleaved(
      [
        { name: "1", enter: threads(1), fn: () => nn.conv2dBackward(dy, x, w, opts, { dx, dw }, false) },
        { name: "2", enter: threads(2), fn: () => nn.conv2dBackward(dy, x, w, opts, { dx, dw }, false) },
      ],
      method,
    );
    const row = (name, r) => ({ name, ms1: r["1"].ms, ms2: r["2"].ms, speedup: r["1"].ms / r["2"].ms });
    return { build: e.build, rows: [row("conv3x3 28x28x128->128 forward", forward), row("conv3x3 28x28x128->128 backward dx+dw", backward)] };
  } catch (err) {
    return { error: String(err?.message ?? err) };
  } finally {
    e.dispose();
  }
}
