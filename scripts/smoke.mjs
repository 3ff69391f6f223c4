// Runtime smoke test: the bundled package entry dist/simdnet.js (wasm inlined) runs a forward and
// backward pass in whatever runtime loads this file: Node, Deno, Bun, a browser page or a worker.
// No runtime-specific API is used here, so Deno needs no permission flag.
//
//   node --experimental-wasm-relaxed-simd scripts/smoke.mjs   |  deno run scripts/smoke.mjs
//   bun scripts/smoke.mjs                                      |  import { smokeAll } in a page
//
// Run directly, it prints one line `SMOKE_RESULT {json}` (read by tests/runtimes/run.mjs).
// To cover a new op, add a function to CASES: it gets the package and an engine, runs forward and
// backward, and returns the numbers to check against a plain float64 JavaScript reference.
import * as simdnet from "../dist/simdnet.js";

/** Deterministic values in [-1, 1) (mulberry32), identical in every runtime. */
function values(n, seed) {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/**
 * A residual ReLU block and one SGD step, NHWC [2, 3, 3, 5] (90 floats: SIMD tiles and a tail):
 *   z = x + s;  y = relu(z);  loss = sum(y * w)
 *   dz = reluBackward(w, y);  dx, ds = addBackward(dz);  x -= 0.1 * dx
 * Returns { loss, checks: [[label, actual, expected, tolerance]] }.
 */
function residualReluStep(lib, e) {
  const shape = [2, 3, 3, 5];
  const n = 90;
  const xv = values(n, 1),
    sv = values(n, 2),
    wv = values(n, 3);
  return e.tidy(() => {
    const x = e.tensor(shape, xv),
      s = e.tensor(shape, sv),
      w = e.tensor(shape, wv);
    const y = lib.relu(lib.add(x, s));
    const dz = lib.reluBackward(w, y);
    const { da: dx, db: ds } = lib.addBackward(dz);
    lib.axpy(x, dx, -0.1);
    // reference, float64
    const yr = [],
      dxr = [],
      xr = [];
    let loss = 0,
      lossRef = 0;
    for (let i = 0; i < n; i++) {
      const z = xv[i] + sv[i];
      yr.push(Math.max(z, 0));
      dxr.push(z > 0 ? wv[i] : 0);
      xr.push(xv[i] - 0.1 * dxr[i]);
      loss += y.data[i] * wv[i];
      lossRef += yr[i] * wv[i];
    }
    return {
      loss,
      checks: [
        ["loss", [loss], [lossRef], 1e-4],
        ["y = relu(x + s)", y.toArray(), yr, 1e-6],
        ["dx", dx.toArray(), dxr, 1e-6],
        ["ds", ds.toArray(), dxr, 1e-6],
        ["x after SGD step", x.toArray(), xr, 1e-6],
      ],
    };
  });
}

/**
 * A small CNN forward and backward, checked by directional finite differences:
 *   conv3x3(pad 1, 3->8) relu maxpool2 -> dense(4*4*8 -> 5) -> softmax cross-entropy, batch 2, 8x8x3
 * For the conv weights w1 and the input x, the analytic gradient g (from the backward kernels) must
 * satisfy <g, d> = (L(p + eps d) - L(p - eps d)) / (2 eps) along a random direction d.
 */
function cnnStep(lib, e) {
  const xv = values(2 * 8 * 8 * 3, 11),
    w1v = values(3 * 3 * 3 * 8, 12).map((v) => v * 0.5);
  const b1v = values(8, 13).map((v) => v * 0.1),
    w2v = values(128 * 5, 14).map((v) => v * 0.2);
  const labels = [1, 3];
  return e.tidy(() => {
    const x = e.tensor([2, 8, 8, 3], xv),
      w1 = e.tensor([3, 3, 3, 8], w1v),
      b1 = e.tensor([8], b1v);
    const w2 = e.tensor([128, 5], w2v),
      y = e.ints([2], labels);
    const lossOf = () =>
      e.tidy(() => {
        const a = lib.relu(lib.conv2d(x, w1, b1, { pads: 1 }));
        const p = lib.maxPool2d(a, { kernel: 2, strides: 2 });
        return lib.softmaxCrossEntropy(lib.dense(p.y, w2), y).loss;
      });
    const a = lib.relu(lib.conv2d(x, w1, b1, { pads: 1 }));
    const p = lib.maxPool2d(a, { kernel: 2, strides: 2 });
    const { loss, probs } = lib.softmaxCrossEntropy(lib.dense(p.y, w2), y);
    const dlogits = lib.softmaxCrossEntropyBackward(probs, y);
    const dp = lib.denseBackward(dlogits, p.y, w2, {}, false).dx;
    const da = lib.reluBackward(lib.maxPool2dBackward(dp, p.argmax, a.shape), a);
    const { dx, dw } = lib.conv2dBackward(da, x, w1, { pads: 1 }, {}, false);
    const directional = (param, grad, seed) => {
      const d = values(param.size, seed),
        base = param.toArray(),
        eps = 1e-3;
      const norm = Math.hypot(...d);
      for (let i = 0; i < d.length; i++) d[i] /= norm; // a unit direction
      let analytic = 0;
      const g = grad.toArray();
      for (let i = 0; i < d.length; i++) analytic += g[i] * d[i];
      param.set(base.map((v, i) => v + eps * d[i]));
      const up = lossOf();
      param.set(base.map((v, i) => v - eps * d[i]));
      const down = lossOf();
      param.set(base);
      return [[analytic], [(up - down) / (2 * eps)]];
    };
    const [gw, nw] = directional(w1, dw, 21);
    const [gx, nx] = directional(x, dx, 22);
    return {
      loss,
      checks: [
        ["loss is finite and near ln(5) for small weights", [Number.isFinite(loss) ? (Math.abs(loss - Math.log(5)) < 1.5 ? 0 : 1) : 1], [0], 0],
        ["dw1 along a random direction vs finite differences", gw, nw, 2e-3],
        ["dx along a random direction vs finite differences", gx, nx, 2e-3],
      ],
    };
  });
}

/** Every smoke case; each runs in every build the runtime supports. */
export const CASES = [residualReluStep, cnnStep];

function describeRuntime() {
  const g = globalThis;
  if (g.Deno?.version) return `deno ${g.Deno.version.deno}`;
  if (g.Bun?.version) return `bun ${g.Bun.version}`;
  if (g.process?.versions?.node) return `node ${g.process.versions.node}`;
  if (g.navigator?.userAgent) return `${typeof g.document === "undefined" ? "worker" : "page"}: ${g.navigator.userAgent}`;
  return "unknown";
}

/** Runs every case in one build; never throws: failures are reported in the result. */
export async function smokeBuild(build) {
  const result = { build, ok: false, cases: {} };
  try {
    const e = await simdnet.init({ build });
    if (e.build !== build) throw new Error(`asked for the ${build} build, got ${e.build}`);
    const baseline = e.heap.bytesInUse; // the engine's own kernel-parameter block
    let ok = true;
    for (const fn of CASES) {
      const { loss, checks } = fn(simdnet, e);
      const report = { loss, worst: {} };
      for (const [label, actual, expected, tol] of checks) {
        if (actual.length !== expected.length) throw new Error(`${fn.name}: ${label}: length ${actual.length} != ${expected.length}`);
        let worst = 0;
        for (let i = 0; i < expected.length; i++) {
          const err = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
          worst = Number.isNaN(err) ? Infinity : Math.max(worst, err);
        }
        report.worst[label] = worst;
        if (!(worst <= tol)) {
          ok = false;
          report.failed = `${label}: error ${worst} > ${tol}`;
        }
      }
      result.cases[fn.name] = report;
    }
    if (e.heap.bytesInUse !== baseline) throw new Error(`${e.heap.bytesInUse - baseline} bytes still in use after tidy()`);
    result.ok = ok;
  } catch (err) {
    result.error = `${err?.name}: ${err?.message}`;
  }
  return result;
}

/**
 * Smoke of every build this runtime supports (feature detection, as "auto" uses) and proof that
 * the others are refused with a SimdnetError rather than crashing.
 */
export async function smokeAll() {
  const auto = (await simdnet.init()).build;
  const detected = await simdnet.detectBuild();
  const supported = simdnet.BUILDS.slice(0, simdnet.BUILDS.indexOf(detected) + 1);
  const builds = {};
  for (const build of simdnet.BUILDS) {
    if (supported.includes(build)) builds[build] = await smokeBuild(build);
    else {
      try {
        await simdnet.init({ build });
        builds[build] = { build, supported: false, ok: false, error: "ran although feature detection said it cannot" };
      } catch (err) {
        const refused = err instanceof simdnet.SimdnetError;
        builds[build] = { build, supported: false, ok: refused, refused: String(err?.message ?? err) };
      }
    }
    builds[build].supported ??= true;
  }
  return { runtime: describeRuntime(), auto, builds };
}

const argv1 = globalThis.process?.argv?.[1];
const isMain = import.meta.main ?? (typeof argv1 === "string" && new URL(argv1, "file:///").href === import.meta.url);
if (isMain) {
  const result = await smokeAll();
  console.log(`smoke in ${result.runtime}: auto picks '${result.auto}'`);
  for (const r of Object.values(result.builds)) {
    console.log(
      `  ${r.build}: ${r.supported ? (r.ok ? "ok" : "FAILED " + (r.error ?? JSON.stringify(r.cases))) : "not supported here, refused: " + r.refused}`,
    );
  }
  console.log(`SMOKE_RESULT ${JSON.stringify(result)}`);
}
