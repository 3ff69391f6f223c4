// Threads smoke: init({ threads }) on the bundled package, conv2d forward + backward and two gemms
// (A . B and A . B^T, whose relaxed-threads column blocks align to 24) split over the threads,
// compared bitwise with the same engine on one thread; `build` says which threads build auto picked. Runs in Node
// (`node tests/runtimes/threads-smoke.mjs` prints `THREADS_RESULT <json>`) and in Chromium (a
// cross-origin-isolated page and its module worker: tests/runtimes/threads.html).

/** Returns { threads, reason, build, ok, mismatches, error? }; never throws. */
export async function smokeThreads(simdnet, threads = 2) {
  const result = { threads: 0, reason: "", build: "", ok: false, mismatches: 0 };
  let e;
  try {
    e = await simdnet.init({ threads });
    Object.assign(result, { threads: e.threads, reason: e.threadsReason, build: e.build });
    const fill = (n, seed) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
    const run = (minWork) =>
      e.tidy(() => {
        e.minParallelWork = minWork;
        const x = e.tensor([2, 9, 11, 6], fill(2 * 9 * 11 * 6, 1));
        const w = e.tensor([3, 3, 6, 19], fill(3 * 3 * 6 * 19, 2));
        const y = simdnet.conv2d(x, w, null, { pads: 1, strides: [1, 2] });
        const g = simdnet.conv2dBackward(e.tensor(y.shape, fill(y.size, 3)), x, w, { pads: 1, strides: [1, 2] });
        const m = simdnet.matmul(e.tensor([37, 21], fill(37 * 21, 4)), e.tensor([21, 29], fill(21 * 29, 5)));
        const nt = simdnet.matmul(e.tensor([9, 21], fill(9 * 21, 6)), e.tensor([70, 21], fill(70 * 21, 7)), { transB: true });
        return [y, g.dx, g.dw, m, nt].map((t) => t.data.slice());
      });
    const single = run(Infinity),
      split = run(0);
    single.forEach((s, i) => s.forEach((v, j) => (result.mismatches += Object.is(v, split[i][j]) ? 0 : 1)));
    result.ok = result.mismatches === 0;
  } catch (err) {
    result.error = String(err?.stack ?? err);
  } finally {
    e?.dispose();
  }
  return result;
}

const isMain = typeof process === "object" && process.argv?.[1] && import.meta.url === (await import("node:url")).pathToFileURL(process.argv[1]).href;
if (isMain) {
  const simdnet = await import("../../dist/simdnet.js");
  console.log(`THREADS_RESULT ${JSON.stringify(await smokeThreads(simdnet, Number(process.argv[2] ?? 2)))}`);
}
