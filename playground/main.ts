// The playground page: starts the worker (build/playground/worker.js), plots loss and accuracy as
// training runs, shows the first-layer filters as they learn, lets the user draw or pick an image
// and shows the prediction with its saliency map. Query parameters: ?build=scalar|simd|relaxed
// forces a wasm build; ?epochs=N presets the epochs field; ?tab=text opens the text tab (a char-LSTM,
// playground/text-tab.ts).
// window.__playground exposes the state for tests (tests/runtimes/playground.mjs).
import type { BuildName } from "../src/runtime.js";
import type { Picture, Reply, Request } from "./worker.js";
import { setupTextTab, type TextState } from "./text-tab.js";

const CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);

interface State {
  ready: boolean;
  build: string;
  crossOriginIsolated: boolean;
  threads: string;
  steps: { loss: number; accuracy: number }[];
  epochs: { epoch: number; testAccuracy: number }[];
  filterUpdates: number;
  training: boolean;
  done: boolean;
  /** The latest prediction and what it was of ("drawing" or "test #i"). */
  prediction: { predicted: number; probs: number[]; source: string } | null;
  saliencyShown: number;
  error: string | null;
  /** The text tab (char-LSTM). */
  text?: TextState;
}
const state: State = {
  ready: false,
  build: "",
  crossOriginIsolated: false,
  threads: "",
  steps: [],
  epochs: [],
  filterUpdates: 0,
  training: false,
  done: false,
  prediction: null,
  saliencyShown: 0,
  error: null,
};
(window as unknown as { __playground: State }).__playground = state;

const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
const send = (m: Request, transfer: Transferable[] = []) => worker.postMessage(m, transfer);

// ---- tabs: images (LeNet-5) and text (char-LSTM, set up when first opened)
const textTab = setupTextTab(send);
state.text = textTab.state;
function showTab(name: "images" | "text"): void {
  $("tab-images").hidden = name !== "images";
  $("tab-text").hidden = name !== "text";
  $("tab-images-button").classList.toggle("active", name === "images");
  $("tab-text-button").classList.toggle("active", name === "text");
  if (name === "text" && state.ready) textTab.open();
}
let currentTab: "images" | "text" = params.get("tab") === "text" ? "text" : "images";
$("tab-images-button").onclick = () => showTab((currentTab = "images"));
$("tab-text-button").onclick = () => showTab((currentTab = "text"));
showTab(currentTab);

function drawPicture(canvas: HTMLCanvasElement, p: Picture): void {
  canvas.width = p.width;
  canvas.height = p.height;
  canvas.getContext("2d")!.putImageData(new ImageData(new Uint8ClampedArray(p.rgba), p.width, p.height), 0, 0);
}

// ---- the live plot: loss (left axis, smoothed) and batch accuracy (right axis, 0..1)
function plot(): void {
  const c = $<HTMLCanvasElement>("plot"),
    g = c.getContext("2d")!;
  const W = c.width,
    H = c.height,
    L = 40,
    R = 40,
    T = 10,
    B = 24;
  g.clearRect(0, 0, W, H);
  g.font = "11px system-ui";
  g.strokeStyle = "#ccc";
  g.strokeRect(L, T, W - L - R, H - T - B);
  const n = state.steps.length;
  if (n === 0) return;
  const smooth = (key: "loss" | "accuracy") => {
    const out: number[] = [];
    let s = state.steps[0]![key];
    for (const st of state.steps) out.push((s = 0.9 * s + 0.1 * st[key]));
    return out;
  };
  const loss = smooth("loss"),
    acc = smooth("accuracy");
  const maxLoss = Math.max(2.5, ...loss);
  const x = (i: number) => L + ((W - L - R) * i) / Math.max(1, n - 1);
  const line = (vals: number[], top: number, colour: string) => {
    g.strokeStyle = colour;
    g.beginPath();
    vals.forEach((v, i) => (i ? g.lineTo(x(i), T + (H - T - B) * (1 - v / top)) : g.moveTo(x(i), T + (H - T - B) * (1 - v / top))));
    g.stroke();
  };
  line(loss, maxLoss, "#d62728");
  line(acc, 1, "#1f77b4");
  g.fillStyle = "#d62728";
  g.fillText(maxLoss.toFixed(1), 4, T + 10);
  g.fillText("loss", 4, H / 2);
  g.fillStyle = "#1f77b4";
  g.fillText("100%", W - R + 4, T + 10);
  g.fillText("acc", W - R + 4, H / 2);
  g.fillStyle = "#555";
  g.fillText(`${n} steps`, W / 2 - 20, H - 6);
}

function showPrediction(probs: number[], predicted: number): void {
  const box = $("probs");
  box.innerHTML = "";
  probs.forEach((p, k) => {
    const name = document.createElement("span");
    name.textContent = CLASSES[k]!;
    const bar = document.createElement("div");
    bar.className = k === predicted ? "bar top" : "bar";
    bar.style.width = `${Math.max(1, Math.round(160 * p))}px`;
    const pct = document.createElement("span");
    pct.textContent = `${(100 * p).toFixed(1)}%`;
    box.append(name, bar, pct);
  });
}

// ---- drawing: a 280x280 canvas, read back as 28x28 grey values in [0, 1] (10x10 block means)
const draw = $<HTMLCanvasElement>("draw"),
  dg = draw.getContext("2d", { willReadFrequently: true })!;
function clearDrawing(): void {
  dg.fillStyle = "#000";
  dg.fillRect(0, 0, 280, 280);
}
clearDrawing();
function drawingAsImage(): Float32Array {
  const px = dg.getImageData(0, 0, 280, 280).data,
    img = new Float32Array(784);
  for (let r = 0; r < 28; r++)
    for (let c = 0; c < 28; c++) {
      let s = 0;
      for (let y = 0; y < 10; y++) for (let x = 0; x < 10; x++) s += px[((r * 10 + y) * 280 + c * 10 + x) * 4]!;
      img[r * 28 + c] = s / (100 * 255);
    }
  return img;
}
let predictId = 0,
  predictSource = "drawing";
function requestPrediction(source: string): void {
  if (!state.ready) return;
  predictSource = source;
  send({ type: "predict", image: drawingAsImage(), id: ++predictId });
}
let drawing = false;
const at = (ev: PointerEvent) => {
  const r = draw.getBoundingClientRect();
  return [((ev.clientX - r.left) * 280) / r.width, ((ev.clientY - r.top) * 280) / r.height] as const;
};
draw.addEventListener("pointerdown", (ev) => {
  drawing = true;
  draw.setPointerCapture(ev.pointerId);
  dg.strokeStyle = "#fff";
  dg.lineWidth = 22;
  dg.lineCap = dg.lineJoin = "round";
  dg.beginPath();
  dg.moveTo(...at(ev));
});
draw.addEventListener("pointermove", (ev) => {
  if (!drawing) return;
  dg.lineTo(...at(ev));
  dg.stroke();
});
draw.addEventListener("pointerup", () => {
  drawing = false;
  $("picked").textContent = "";
  requestPrediction("drawing");
});
$("clear").onclick = () => {
  clearDrawing();
  $("picked").textContent = "";
};
$("pick").onclick = () => send({ type: "testImage", index: Math.floor(Math.random() * 1500) });

// ---- training controls
const num = (id: string) => Number($<HTMLInputElement>(id).value);
if (params.get("epochs")) $<HTMLInputElement>("epochs").value = params.get("epochs")!;
$("train").onclick = () => {
  state.training = true;
  state.done = false;
  ($("train") as HTMLButtonElement).disabled = true;
  ($("stop") as HTMLButtonElement).disabled = false;
  send({ type: "train", epochs: num("epochs"), batchSize: num("batch"), lr: num("lr") });
};
$("stop").onclick = () => send({ type: "stop" });

/** What each wasm build is, for the status line. */
const BUILD_LABELS: Record<BuildName, string> = {
  scalar: "scalar, no SIMD",
  simd: "SIMD",
  relaxed: "relaxed SIMD",
  threads: "SIMD + threads, shared memory",
  "relaxed-threads": "relaxed SIMD + threads, shared memory",
};

worker.onmessage = (ev: MessageEvent<Reply>) => {
  const m = ev.data;
  switch (m.type) {
    case "ready":
      Object.assign(state, { ready: true, build: m.build, crossOriginIsolated: m.crossOriginIsolated, threads: m.threads });
      $("status").innerHTML =
        `wasm build: <b>${m.build}</b> (${BUILD_LABELS[m.build]})` +
        ` · cross-origin isolated: <b>${m.crossOriginIsolated ? "yes" : "no"}</b> · threads: ${m.threads}` +
        ` · data: ${m.trainCount} training / ${m.testCount} test images (embedded Fashion-MNIST subset)`;
      drawPicture($("filters"), m.filters);
      for (const id of ["train", "pick"]) ($(id) as HTMLButtonElement).disabled = false;
      if (currentTab === "text") textTab.open();
      break;
    case "step":
      state.steps.push({ loss: m.loss, accuracy: m.accuracy });
      $("metrics").textContent =
        `epoch ${m.epoch} step ${m.step}/${m.stepsPerEpoch}: loss ${m.loss.toFixed(3)}, batch accuracy ${(100 * m.accuracy).toFixed(0)}%, ${Math.round(m.imagesPerSecond)} images/s` +
        (state.epochs.length ? ` · test accuracy after epoch ${state.epochs.at(-1)!.epoch}: ${(100 * state.epochs.at(-1)!.testAccuracy).toFixed(1)}%` : "");
      if (state.steps.length % 4 === 0) plot();
      break;
    case "filters":
      state.filterUpdates++;
      drawPicture($("filters"), m.filters);
      break;
    case "epoch":
      state.epochs.push({ epoch: m.epoch, testAccuracy: m.testAccuracy });
      break;
    case "done":
      plot();
      Object.assign(state, { training: false, done: true });
      ($("train") as HTMLButtonElement).disabled = false;
      ($("stop") as HTMLButtonElement).disabled = true;
      $("metrics").textContent += m.stopped ? " · stopped" : " · done";
      requestPrediction(predictSource); // the trained model on what is on the canvas
      break;
    case "testImage": {
      // draw the test image into the drawing canvas, then predict it
      const small = new ImageData(28, 28);
      m.image.forEach((v, i) => small.data.set([v * 255, v * 255, v * 255, 255], i * 4));
      const tmp = document.createElement("canvas");
      tmp.width = tmp.height = 28;
      tmp.getContext("2d")!.putImageData(small, 0, 0);
      dg.imageSmoothingEnabled = false;
      dg.drawImage(tmp, 0, 0, 280, 280);
      $("picked").textContent = `test image #${m.index}: ${CLASSES[m.label]}`;
      requestPrediction(`test #${m.index}`);
      break;
    }
    case "prediction": {
      if (m.id !== predictId) break; // a newer request is on its way
      state.prediction = { predicted: m.predicted, probs: m.probs, source: predictSource };
      showPrediction(m.probs, m.predicted);
      drawPicture($("saliency"), m.saliency);
      let lit = 0;
      for (let i = 0; i < m.saliency.rgba.length; i += 4) if (m.saliency.rgba[i]! > 0) lit++;
      state.saliencyShown = lit;
      break;
    }
    case "error":
      state.error = m.message;
      $("status").textContent = `error: ${m.message}`;
      break;
    default:
      textTab.onReply(m);
  }
};
worker.onerror = (ev) => {
  state.error = `worker: ${ev.message}`;
  $("status").textContent = state.error;
};
const build = params.get("build");
send({ type: "init", build: build === "scalar" || build === "simd" || build === "relaxed" ? build : "auto" });
