// LSTM benchmark cases (issue 16): hidden 256, input 64, 64 steps, batch 1 and 32, one thread.
//   inference:     y = LSTM(x), x time-first [T, B, I]: one one-operator ONNX LSTM run by simdnet's
//                  InferenceSession, onnxruntime-web and onnxruntime-node; TF.js tf.layers.lstm; PyTorch nn.LSTM.
//   training step: forward over x [B, T, I], loss = sum(y * g) / B with a fixed g [B, T, H], backward to
//                  the weights (no input gradient), SGD lr 0.01: simdnet's Model (lstm layer),
//                  TF.js tf.layers.lstm with optimizer.minimize (wasm and cpu backends), PyTorch.
// Every library gets the same weights (gate blocks reordered: ONNX i, o, f, c; PyTorch and Keras
// i, f, c, o); inference outputs are compared with simdnet's, training steps by their initial loss.
// PyTorch (Debian's python3-torch on Debian's OpenBLAS, /usr/bin/python3) runs in its own process:
// bench/torch_lstm.py times it there by the same method, so its calls are not interleaved.
// FLOPs: forward 2 * T * B * 4H * (I + H) (the gate products; the gate non-linearities are not
// counted); a training step 3x that.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { oneOpModel } from "./onnx.mjs";

const here = dirname(fileURLToPath(import.meta.url));
export const LSTM_SIZES = { T: 64, I: 64, H: 256 };

/** Gate blocks of a [rows, 4H] (cols: gate-major) or [4H, cols] matrix from ONNX order to PyTorch / Keras order. */
const ONNX_TO_IFCO = [0, 2, 3, 1]; // i, f, c(g), o taken from ONNX's i, o, f, c

function reorderColumns(m, rows, H) {
  const out = new Float32Array(m.length),
    G = 4 * H;
  for (let r = 0; r < rows; r++) for (let q = 0; q < 4; q++) out.set(m.subarray(r * G + ONNX_TO_IFCO[q] * H, r * G + (ONNX_TO_IFCO[q] + 1) * H), r * G + q * H);
  return out;
}

/** [rows, cols] -> [cols, rows]. */
function transpose(m, rows, cols) {
  const out = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c];
  return out;
}

/** time-first [T, B, F] <-> batch-first [B, T, F]. */
function swap01(v, a, b, f) {
  const out = new Float32Array(v.length);
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) out.set(v.subarray((i * b + j) * f, (i * b + j + 1) * f), (j * a + i) * f);
  return out;
}

/**
 * The LSTM cases. `rand(n, seed, scale)` from cases.mjs; `na(reason)` marks a library without the case.
 * @param {{ batch: number, pass: "inference" | "train", rand: Function, na: Function }} o
 */
export function lstmCase({ batch: B, pass, rand, na }) {
  const { T, I, H } = LSTM_SIZES,
    G = 4 * H,
    train = pass === "train";
  const forwardFlops = 2 * T * B * G * (I + H);
  let data;
  // simdnet layout: w [I, 4H], r [H, 4H], b [8H] (Wb then Rb), gate blocks i, o, f, c
  const get = () =>
    (data ??= {
      x: rand(T * B * I, 31, 1),
      w: rand(I * G, 32, 1 / Math.sqrt(I)),
      r: rand(H * G, 33, 1 / Math.sqrt(H)),
      b: rand(2 * G, 34, 0.1),
      g: rand(B * T * H, 35, 1),
    });
  const xBatchFirst = () => (get().xbf ??= swap01(get().x, T, B, I));
  const simdnetShapes = { w: [1, I, G], r: [1, H, G], b: [1, 2 * G] };
  const onnxModel = () =>
    oneOpModel({
      op: "LSTM",
      inputs: { x: [T, B, I] },
      initializers: {
        W: { dims: [1, G, I], data: transpose(get().w, I, G) },
        R: { dims: [1, G, H], data: transpose(get().r, H, G) },
        B: { dims: [1, 2 * G], data: get().b },
      },
      operands: ["x", "W", "R", "B"],
      outputs: { y: [T, 1, B, H], y_h: [1, B, H], y_c: [1, B, H] },
      attributes: { hidden_size: H },
    });
  const initialLoss = (y) => {
    const g = get().g;
    let s = 0;
    for (let i = 0; i < g.length; i++) s += y[i] * g[i];
    return s / B;
  };
  return {
    name: `lstm h${H} i${I} t${T} b${B} ${train ? "train step" : "inference"}`,
    flops: train ? 3 * forwardFlops : forwardFlops,
    outShape: [T, B, H],

    simdnet({ nn, e }) {
      const w = e.tensor(simdnetShapes.w, get().w),
        r = e.tensor(simdnetShapes.r, get().r),
        b = e.tensor(simdnetShapes.b, get().b);
      if (!train) {
        // the same one-operator ONNX model onnxruntime runs, through simdnet's InferenceSession
        for (const t of [w, r, b]) t.dispose();
        const session = nn.InferenceSession.fromBytes(e, onnxModel());
        const feeds = { x: { dims: [T, B, I], data: get().x } };
        return { fn: () => session.runSync(feeds), result: () => session.runSync(feeds).y.data.slice(), dispose: () => session.release() };
      }
      const model = nn.createModel(e, [{ type: "lstm", units: H, returnSequences: true }], { inputShape: [T, I], batch: B });
      model.setParameters({ "lstm1.weight": get().w, "lstm1.recurrence": get().r, "lstm1.bias": get().b });
      const x = e.tensor([B, T, I], xBatchFirst()),
        dy = e.tensor(
          [B, T, H],
          get().g.map((v) => v / B),
        );
      const opt = new nn.SGD({ lr: 0.01 });
      const loss0 = initialLoss(model.forward(x).data);
      const fn = () => {
        model.forward(x, { training: true });
        model.zeroGrads();
        model.backward(dy, { inputGradient: false });
        opt.step(model.parameters());
      };
      const dispose = () => {
        for (const t of [x, dy, w, r, b]) t.dispose();
        opt.dispose();
        model.dispose();
      };
      return { fn, initialLoss: loss0, dispose };
    },

    async tfjs(lib) {
      const { tf, backend } = lib;
      await tf.setBackend(backend);
      const tfl = await import("@tensorflow/tfjs");
      // Keras layout: kernel [I, 4H], recurrent kernel [H, 4H], one bias [4H], gates i, f, c, o
      const kernel = tf.tensor(reorderColumns(get().w, I, H), [I, G]),
        recurrent = tf.tensor(reorderColumns(get().r, H, H), [H, G]);
      const bsum = get()
        .b.subarray(0, G)
        .map((v, j) => v + get().b[G + j]);
      const bias = tf.tensor(reorderColumns(bsum, 1, H), [G]);
      // recurrentActivation: Keras' default is hardSigmoid; ONNX, PyTorch and simdnet use the sigmoid
      const zeros = { kernelInitializer: "zeros", recurrentInitializer: "zeros", biasInitializer: "zeros", recurrentActivation: "sigmoid" };
      const layer = tfl.layers.lstm({ units: H, returnSequences: true, ...zeros });
      const x = tf.tensor(xBatchFirst(), [B, T, I]);
      tf.dispose(tf.tidy(() => layer.apply(x))); // builds the layer
      layer.setWeights([kernel, recurrent, bias]);
      tf.dispose([kernel, recurrent, bias]);
      const dispose = () => {
        tf.dispose(x);
        layer.dispose();
      };
      if (!train) {
        let last = null;
        const fn = () => {
          last?.dispose();
          last = tf.tidy(() => layer.apply(x));
        };
        return { fn, result: () => swap01((last ?? (fn(), last)).dataSync(), B, T, H), dispose: () => (last?.dispose(), dispose()) };
      }
      const g = tf.tensor(get().g, [B, T, H]);
      const loss = () => tf.div(tf.sum(tf.mul(layer.apply(x), g)), B);
      const loss0 = tf.tidy(() => loss().dataSync()[0]);
      const opt = tf.train.sgd(0.01);
      const fn = () =>
        tf.dispose(
          opt.minimize(
            loss,
            true,
            layer.trainableWeights.map((v) => v.val ?? v),
          ),
        );
      try {
        fn(); // fails here when the backend lacks a gradient kernel
      } catch (err) {
        tf.dispose(g);
        dispose();
        return na(`cannot train it: ${String(err.message ?? err).split("\n")[0]}`);
      }
      return { fn, initialLoss: loss0, dispose: () => (tf.dispose(g), opt.dispose(), dispose()) };
    },

    async ort({ ort }) {
      if (train) return na("inference only");
      const session = await ort.InferenceSession.create(onnxModel());
      const feeds = { x: new ort.Tensor("float32", get().x, [T, B, I]) };
      return { fn: () => session.run(feeds), result: async () => (await session.run(feeds)).y.data.slice(), dispose: () => session.release() };
    },

    async ortnode({ ortNode }) {
      if (train) return na("inference only");
      const session = await ortNode.InferenceSession.create(onnxModel(), { intraOpNumThreads: 1, interOpNumThreads: 1 });
      const feeds = { x: new ortNode.Tensor("float32", get().x, [T, B, I]) };
      return { fn: () => session.run(feeds), result: async () => (await session.run(feeds)).y.data.slice(), dispose: () => session.release() };
    },

    pytorch({ python }, method) {
      const dir = mkdtempSync(join(tmpdir(), "simdnet-bench-torch-"));
      try {
        const write = (name, v) => writeFileSync(join(dir, `${name}.f32`), Buffer.from(v.buffer, v.byteOffset, v.byteLength));
        // PyTorch layout: weight_ih [4H, I], weight_hh [4H, H], bias_ih, bias_hh [4H], gates i, f, g, o
        write("w_ih", transpose(reorderColumns(get().w, I, H), I, G));
        write("w_hh", transpose(reorderColumns(get().r, H, H), H, G));
        write("b_ih", reorderColumns(get().b.subarray(0, G), 1, H));
        write("b_hh", reorderColumns(get().b.subarray(G), 1, H));
        write("x", train ? xBatchFirst() : get().x);
        if (train) write("g", get().g);
        const env = { ...process.env, OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1" };
        const r = spawnSync(python, [join(here, "torch_lstm.py"), dir, pass, B, T, I, H, method.warmMs, method.calls].map(String), { encoding: "utf8", env });
        if (r.status !== 0) return { error: `torch_lstm.py failed: ${(r.stderr || r.stdout || "").trim().split("\n").pop()}` };
        const out = JSON.parse(r.stdout.trim().split("\n").pop());
        const y = train ? null : new Float32Array(readFileSync(join(dir, "torch_y.f32")).buffer.slice(0));
        return {
          measured: { ms: out.ms, calls: out.calls },
          result: y ? () => y : undefined,
          initialLoss: out.loss,
          note: `torch ${out.torch}, ${out.threads} thread`,
        };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
