// Sequence models exported to ONNX (src/onnx/export.ts: RNN, GRU, LSTM, Gather, MatMul) and run by
// onnxruntime-node, an independent implementation, on random weights and random sequence lengths:
// its outputs must equal the Model's. Every build.
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { createModel, type GraphSpec, lstm, type Model } from "../src/index.js";
import { exportOnnx } from "../src/onnx/export.js";
import { AttributeType, DataType, decodeModel, encodeModel } from "../src/onnx/onnx-proto.js";
import { InferenceSession } from "../src/graph/session.js";
import { BUILDS_UNDER_TEST, engineFor, expectClose, uniform } from "./harness.js";

/** Random values in every parameter (biases and peepholes too), so nothing is zero by init. */
function randomize(m: Model, seed: number): void {
  m.parameters().forEach((p, i) => p.value.set(uniform(p.value.size, seed + i, -0.6, 0.6)));
}

async function ortRun(bytes: Uint8Array, feeds: Record<string, { dims: number[]; data: Float32Array }>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const input: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) input[k] = new ort.Tensor("float32", v.data, v.dims);
    const out = await session.run(input);
    return (out[session.outputNames[0]!]!.data as Float32Array).slice();
  } finally {
    await session.release();
  }
}

const CASES = [
  { cell: "lstm", direction: "bidirectional", returnSequences: true, extra: { peepholes: true } },
  { cell: "lstm", direction: "reverse", returnSequences: false, extra: {} },
  { cell: "gru", direction: "bidirectional", returnSequences: true, extra: { linearBeforeReset: true } },
  { cell: "gru", direction: "forward", returnSequences: false, extra: { linearBeforeReset: false } },
  { cell: "rnn", direction: "bidirectional", returnSequences: false, extra: { nonlinearity: "relu" } },
  { cell: "rnn", direction: "forward", returnSequences: true, extra: {} },
] as const;

describe.each(BUILDS_UNDER_TEST)("recurrent layers through ONNX and onnxruntime-node (%s build)", (build) => {
  it.each(CASES)("$cell $direction returnSequences $returnSequences with random lengths", async ({ cell, direction, returnSequences, extra }) => {
    const e = await engineFor(build);
    const [T, I, H, B] = [5, 3, 6, 4];
    const spec: GraphSpec = {
      inputs: [
        { name: "x", shape: [T, I] },
        { name: "lengths", shape: [1] },
      ],
      nodes: [{ name: "rec", type: cell, inputs: ["x", "lengths"], units: H, direction, returnSequences, ...extra }],
      outputs: ["rec"],
    };
    const m = createModel(e, spec, { seed: 3 });
    try {
      randomize(m, 10);
      const x = uniform(B * T * I, 4),
        lengths = Float32Array.from([5, 2, 4, 1]);
      const ours = m.forward({ x, lengths }).data.slice();
      const bytes = exportOnnx(m);
      expect(decodeModel(bytes).graph.node.some((n) => n.opType === cell.toUpperCase())).toBe(true);
      const theirs = await ortRun(bytes, { x: { dims: [B, T, I], data: x }, lengths: { dims: [B, 1], data: lengths } });
      expectClose(ours, theirs, { rtol: 1e-4, atol: 1e-5, label: `${cell} via onnxruntime-node` });
    } finally {
      m.dispose();
    }
  });

  it.each(CASES)(
    "$cell $direction returnSequences $returnSequences: simdnet's InferenceSession runs the export like the Model",
    async ({ cell, direction, returnSequences, extra }) => {
      const e = await engineFor(build);
      const [T, I, H, B] = [4, 5, 7, 3];
      const m = createModel(e, [{ type: cell, units: H, direction, returnSequences, ...extra }], { inputShape: [T, I], seed: 5 });
      try {
        randomize(m, 30);
        const x = uniform(B * T * I, 6);
        const ours = m.forward(x).data.slice();
        const session = InferenceSession.fromBytes(e, exportOnnx(m));
        try {
          const out = session.runSync({ input: { dims: [B, T, I], data: x } });
          expectClose(Object.values(out)[0]!.data as Float32Array, ours, { rtol: 1e-5, atol: 1e-6 });
        } finally {
          session.release();
        }
      } finally {
        m.dispose();
      }
    },
  );

  it("an ONNX LSTM with layout 1 (batch-first, opset 14), lengths, initial states and peepholes runs in the InferenceSession", async () => {
    const e = await engineFor(build);
    const [T, I, H, B, nd] = [5, 3, 4, 3, 2],
      G = 4 * H;
    const f = (n: number, seed: number) => uniform(n, seed, -0.7, 0.7);
    const W = f(nd * G * I, 1),
      R = f(nd * G * H, 2),
      Bias = f(nd * 2 * G, 3),
      P = f(nd * 3 * H, 4),
      h0 = f(B * nd * H, 5),
      c0 = f(B * nd * H, 6),
      x = f(B * T * I, 7);
    const lens = Int32Array.from([5, 3, 1]);
    const init = (name: string, dims: number[], data: Float32Array) => ({ name, dims, dataType: DataType.FLOAT, data });
    const io = (name: string, shape: number[], elemType: number = DataType.FLOAT) => ({ name, elemType, shape });
    const bytes = encodeModel({
      irVersion: 8,
      opsetImport: [{ domain: "", version: 14 }],
      producerName: "test",
      producerVersion: "",
      domain: "",
      modelVersion: 0,
      docString: "",
      metadataProps: [],
      graph: {
        name: "lstm_layout1",
        node: [
          {
            name: "lstm",
            opType: "LSTM",
            domain: "",
            input: ["x", "W", "R", "B", "lens", "h0", "c0", "P"],
            output: ["Y", "Y_h", "Y_c"],
            attribute: [
              { name: "hidden_size", type: AttributeType.INT, i: H },
              { name: "direction", type: AttributeType.STRING, s: "bidirectional" },
              { name: "layout", type: AttributeType.INT, i: 1 },
            ],
          },
        ],
        initializer: [init("W", [nd, G, I], W), init("R", [nd, G, H], R), init("B", [nd, 2 * G], Bias), init("P", [nd, 3 * H], P)],
        input: [io("x", [B, T, I]), io("lens", [B], DataType.INT32), io("h0", [B, nd, H]), io("c0", [B, nd, H])],
        output: [io("Y", [B, T, nd, H]), io("Y_h", [B, nd, H]), io("Y_c", [B, nd, H])],
        valueInfo: [],
      },
    });
    const session = InferenceSession.fromBytes(e, bytes);
    try {
      const out = session.runSync({
        x: { dims: [B, T, I], data: x },
        lens: { dims: [B], data: lens },
        h0: { dims: [B, nd, H], data: h0 },
        c0: { dims: [B, nd, H], data: c0 },
      });
      // the functional lstm, batch-first, on the weights transposed to [nd, in, 4H]
      const tr = (m: Float32Array, rows: number, cols: number) => {
        const o = new Float32Array(m.length);
        for (let d = 0; d < nd; d++)
          for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) o[d * rows * cols + c * rows + r] = m[d * rows * cols + r * cols + c]!;
        return o;
      };
      e.tidy(() => {
        const ref = lstm(e.tensor([B, T, I], x), e.tensor([nd, I, G], tr(W, G, I)), e.tensor([nd, H, G], tr(R, G, H)), e.tensor([nd, 2 * G], Bias), {
          direction: "bidirectional",
          batchFirst: true,
          sequenceLengths: lens,
          initialH: e.tensor([B, nd, H], h0),
          initialC: e.tensor([B, nd, H], c0),
          peepholes: e.tensor([nd, 3 * H], P),
        });
        expectClose(out.Y!.data as Float32Array, ref.y.data, { rtol: 1e-6, atol: 1e-7, label: "Y" });
        expectClose(out.Y_h!.data as Float32Array, ref.yH.data, { rtol: 1e-6, atol: 1e-7, label: "Y_h" });
        expectClose(out.Y_c!.data as Float32Array, ref.yC!.data, { rtol: 1e-6, atol: 1e-7, label: "Y_c" });
      });
    } finally {
      session.release();
    }
  });

  it("a char model (embedding -> stacked LSTMs -> timeDense) equals onnxruntime-node's", async () => {
    const e = await engineFor(build);
    const [T, V] = [7, 11];
    const m = createModel(
      e,
      [
        { type: "embedding", vocab: V, dim: 4 },
        { type: "lstm", units: 5, returnSequences: true },
        { type: "gru", units: 9, returnSequences: true, direction: "bidirectional" },
        { type: "timeDense", units: V },
      ],
      { inputShape: [T], seed: 2 },
    );
    try {
      randomize(m, 20);
      const ids = Float32Array.from({ length: 3 * T }, (_, i) => (i * 7 + 3) % V);
      const ours = m.forward(ids).data.slice();
      const theirs = await ortRun(exportOnnx(m), { input: { dims: [3, T], data: ids } });
      expectClose(ours, theirs, { rtol: 1e-4, atol: 1e-5 });
    } finally {
      m.dispose();
    }
  });
});
