// `npm run bench:train`: one training step (forward, softmax cross-entropy gradient, backward,
// SGD update) of the zoo's networks, simdnet (one thread) beside PyTorch on the CPU (Debian's
// python3-torch, one thread: the native anchor), each in its own process, interleaved, median of
// the rounds' median step times. Prints a table and writes build/bench-zoo-train.json.
//   node bench/zoo-train.mjs [--model <name>]... [--rounds 2] [--seconds 6]
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const values = (name) => argv.flatMap((a, i) => (a === `--${name}` && i + 1 < argv.length ? [argv[i + 1]] : []));
const FLAG = "--experimental-wasm-relaxed-simd";
const PYTHON = "/usr/bin/python3"; // Debian's python, which has python3-torch

/** The networks: zoo builder, batch, input size (the published one, or smaller for the big nets). */
const MODELS = [
  { name: "lenet5", batch: 64, size: 28 },
  { name: "resnet18", batch: 8, size: 224 },
  { name: "alexnet", batch: 8, size: 227 },
  { name: "vgg16", batch: 2, size: 224 },
];

/** One model's median step in simdnet (a child process): JSON on stdout. */
async function child({ name, batch, size, seconds }) {
  const nn = await import(join(root, "dist", "simdnet.js"));
  const e = await nn.init({ build: "auto", threads: 1 });
  const spec = nn[name]({});
  const model = nn.createModel(e, spec);
  const channels = name === "lenet5" ? 1 : 3;
  const classes = name === "lenet5" ? 10 : 1000;
  const x = e.tensor(
    [batch, size, size, channels],
    Float32Array.from({ length: batch * size * size * channels }, () => Math.random()),
  );
  const labels = Int32Array.from({ length: batch }, (_, i) => (i * 7) % classes);
  const dOut = e.zeros([batch, classes]);
  const opt = new nn.SGD({ lr: 0.01 });
  const step = () => {
    const out = model.forward(x, { training: true });
    // softmax cross-entropy gradient (mean over the batch), on the host: negligible beside the net
    const o = out.data,
      d = dOut.data;
    for (let r = 0; r < batch; r++) {
      let max = -Infinity,
        sum = 0;
      for (let c = 0; c < classes; c++) max = Math.max(max, o[r * classes + c]);
      for (let c = 0; c < classes; c++) sum += Math.exp(o[r * classes + c] - max);
      for (let c = 0; c < classes; c++) d[r * classes + c] = (Math.exp(o[r * classes + c] - max) / sum - (c === labels[r] ? 1 : 0)) / batch;
    }
    model.zeroGrads();
    model.backward(dOut, { inputGradient: false });
    opt.step(model.parameters());
  };
  for (let i = 0; i < 2; i++) step();
  const times = [];
  const start = performance.now();
  while (performance.now() - start < seconds * 1000 || times.length < 3) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ ms: times[times.length >> 1], steps: times.length, build: e.build }));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

function main() {
  const wanted = values("model");
  const models = MODELS.filter((m) => wanted.length === 0 || wanted.some((w) => m.name.includes(w)));
  const rounds = Number(values("rounds")[0] ?? 2),
    seconds = Number(values("seconds")[0] ?? 6);
  const torch = spawnSync(PYTHON, ["-c", "import torch, torchvision"], { encoding: "utf8" }).status === 0;
  if (!torch) console.error("bench: python3-torch / python3-torchvision missing (apt-get install python3-torch python3-torchvision): no native anchor");
  const self = fileURLToPath(import.meta.url);
  const results = [];
  for (const m of models) {
    const cells = { simdnet: [], pytorch: [] };
    for (let round = 0; round < rounds; round++) {
      const job = JSON.stringify({ ...m, seconds });
      const s = spawnSync(process.execPath, [FLAG, self, "--child", job], { encoding: "utf8", timeout: 30 * 60_000 });
      cells.simdnet.push(parse(s));
      if (torch)
        cells.pytorch.push(
          parse(spawnSync(PYTHON, [join(root, "bench", "torch_zoo_train.py"), m.name, `${m.batch}`, `${m.size}`, `${seconds}`], { encoding: "utf8" })),
        );
      console.error(`  ${m.name} round ${round + 1}: simdnet ${fmt(cells.simdnet.at(-1))}, pytorch ${torch ? fmt(cells.pytorch.at(-1)) : "-"}`);
    }
    const ms = (k) => {
      const ok = cells[k].filter((c) => c.ok);
      return ok.length ? median(ok.map((c) => c.ms)) : undefined;
    };
    results.push({
      model: m.name,
      batch: m.batch,
      size: m.size,
      simdnetMs: ms("simdnet"),
      pytorchMs: ms("pytorch"),
      errors: [...cells.simdnet, ...cells.pytorch].filter((c) => !c.ok).map((c) => c.error),
    });
  }
  const rows = results.map((r) => [
    `${r.model} b${r.batch} ${r.size}x${r.size}`,
    r.simdnetMs?.toFixed(1) ?? "error",
    r.pytorchMs?.toFixed(1) ?? "-",
    r.simdnetMs && r.pytorchMs ? `${(r.simdnetMs / r.pytorchMs).toFixed(2)}x` : "-",
  ]);
  const head = ["training step", "simdnet 1t ms", "pytorch-cpu 1t ms", "simdnet / pytorch"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => c.padEnd(w[i])).join(" | ")} |`;
  console.log([line(head), `|${w.map((n) => "-".repeat(n + 2)).join("|")}|`, ...rows.map(line)].join("\n"));
  mkdirSync(join(root, "build"), { recursive: true });
  const out = join(root, "build", "bench-zoo-train.json");
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), cpu: cpus()[0]?.model, results }, null, 2));
  console.error(`bench: wrote ${out}`);
}

function parse(r) {
  try {
    return { ok: true, ...JSON.parse(r.stdout.trim().split("\n").pop()) };
  } catch {
    const lines = (r.stderr || r.error?.message || "no report").split("\n");
    return { ok: false, error: lines.find((l) => /Error/.test(l)) ?? lines.find((l) => l.trim()) ?? "crashed" };
  }
}
const fmt = (c) => (c.ok ? `${c.ms.toFixed(1)} ms` : `error: ${c.error}`);

if (argv[0] === "--child") await child(JSON.parse(argv[1]));
else {
  if (!existsSync(join(root, "dist", "simdnet.js"))) console.error("bench: run `npm run build` first");
  main();
}
