// The playground page's text tab: trains a character-level LSTM in the worker (playground/text.ts),
// plots its loss in bits per character, and shows samples. window.__playground.text holds the state
// for tests (tests/runtimes/playground.mjs).
import type { TextReply, TextRequest } from "./text.js";

export interface TextState {
  ready: boolean;
  info: { characters: number; vocab: number; parameters: number; streams: number; steps: number } | null;
  /** Bits per character of each training step. */
  bits: number[];
  training: boolean;
  done: boolean;
  sample: string | null;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export function setupTextTab(send: (m: TextRequest) => void): { state: TextState; onReply(m: TextReply): void; open(): void } {
  const state: TextState = { ready: false, info: null, bits: [], training: false, done: false, sample: null };
  let opened = false,
    sampleId = 0;

  function plot(): void {
    const c = $<HTMLCanvasElement>("text-plot"),
      g = c.getContext("2d")!;
    const W = c.width,
      H = c.height,
      L = 40,
      R = 10,
      T = 10,
      B = 24;
    g.clearRect(0, 0, W, H);
    g.font = "11px system-ui";
    g.strokeStyle = "#ccc";
    g.strokeRect(L, T, W - L - R, H - T - B);
    const n = state.bits.length;
    if (n === 0) return;
    const smooth: number[] = [];
    let s = state.bits[0]!;
    for (const b of state.bits) smooth.push((s = 0.9 * s + 0.1 * b));
    const top = Math.max(6.5, ...smooth);
    const x = (i: number) => L + ((W - L - R) * i) / Math.max(1, n - 1);
    const y = (v: number) => T + (H - T - B) * (1 - v / top);
    g.strokeStyle = "#d62728";
    g.beginPath();
    smooth.forEach((v, i) => (i ? g.lineTo(x(i), y(v)) : g.moveTo(x(i), y(v))));
    g.stroke();
    g.fillStyle = "#d62728";
    g.fillText(top.toFixed(1), 4, T + 10);
    g.fillText("bits/", 4, H / 2 - 6);
    g.fillText("char", 4, H / 2 + 6);
    g.fillStyle = "#555";
    g.fillText(`${n} steps`, W / 2 - 20, H - 6);
  }

  const num = (id: string) => Number($<HTMLInputElement>(id).value);
  const buttons = (training: boolean) => {
    $<HTMLButtonElement>("text-train").disabled = training || !state.ready;
    $<HTMLButtonElement>("text-stop").disabled = !training;
    $<HTMLButtonElement>("text-sample-button").disabled = !state.ready;
  };
  $("text-train").onclick = () => {
    state.training = true;
    state.done = false;
    buttons(true);
    send({ type: "textTrain", steps: num("text-steps"), lr: num("text-lr") });
  };
  $("text-stop").onclick = () => send({ type: "textStop" });
  $("text-sample-button").onclick = () => {
    send({
      type: "textSample",
      id: ++sampleId,
      length: num("text-length"),
      temperature: num("text-temperature"),
      prime: $<HTMLInputElement>("text-prime").value,
      seed: sampleId,
    });
  };

  return {
    state,
    open() {
      if (opened) return;
      opened = true;
      send({ type: "textInit" });
    },
    onReply(m) {
      switch (m.type) {
        case "textReady":
          state.ready = true;
          state.info = { characters: m.characters, vocab: m.vocab, parameters: m.parameters, streams: m.streams, steps: m.steps };
          $("text-info").textContent =
            `Tiny Shakespeare: ${m.characters.toLocaleString("en-US")} characters, ${m.vocab} distinct · ` +
            `model: embedding 16 -> LSTM -> per-step logits, ${m.parameters.toLocaleString("en-US")} parameters · ${m.streams} streams x ${m.steps} steps (truncated BPTT)`;
          buttons(false);
          break;
        case "textStep":
          state.bits.push(m.loss / Math.LN2);
          $("text-metrics").textContent = `step ${m.step}: ${(m.loss / Math.LN2).toFixed(3)} bits/char, ${Math.round(m.charsPerSecond)} chars/s`;
          if (state.bits.length % 4 === 0) plot();
          break;
        case "textDone":
          plot();
          state.training = false;
          state.done = true;
          buttons(false);
          $("text-metrics").textContent += m.stopped ? " · stopped" : " · done";
          break;
        case "textSample":
          if (m.id !== sampleId) break;
          state.sample = m.text;
          $("text-sample").textContent = m.text;
          break;
      }
    },
  };
}
