# PyTorch's CPU LSTM, one thread, as the native anchor of bench/rnn.mjs (Debian's python3-torch).
# Usage: /usr/bin/python3 bench/torch_lstm.py DIR MODE B T I H WARM_MS CALLS
#   DIR holds the case's float32 files (little endian, written by bench/rnn.mjs): x [T, B, I] (time-first;
#   MODE "train": [B, T, I]), w_ih [4H, I], w_hh [4H, H], b_ih [4H], b_hh [4H] (PyTorch gate order
#   i, f, g, o), and for "train" g [B, T, H] (the fixed output gradient).
#   MODE "inference": torch.no_grad() forward; writes DIR/torch_y.f32 (y [T, B, H]).
#   MODE "train": forward, loss = sum(y * g) / B, backward to the weights, SGD lr 0.01; writes the loss
#   before the first step.
# Timing as bench/timing.mjs: >= 3 warm-up calls and >= WARM_MS, then CALLS timed calls, the median
# of per-call perf_counter. Prints one JSON line: {"ms", "calls", "loss"?, "torch", "threads"}.
import json
import sys
import time

import numpy as np
import torch

d, mode = sys.argv[1], sys.argv[2]
B, T, I, H = (int(v) for v in sys.argv[3:7])
warm_ms, calls = float(sys.argv[7]), int(sys.argv[8])
torch.set_num_threads(1)
torch.set_num_interop_threads(1)


def load(name, *shape):
    return torch.from_numpy(np.fromfile(f"{d}/{name}.f32", dtype="<f4").reshape(shape).copy())


train = mode == "train"
lstm = torch.nn.LSTM(I, H, batch_first=train)
with torch.no_grad():
    lstm.weight_ih_l0.copy_(load("w_ih", 4 * H, I))
    lstm.weight_hh_l0.copy_(load("w_hh", 4 * H, H))
    lstm.bias_ih_l0.copy_(load("b_ih", 4 * H))
    lstm.bias_hh_l0.copy_(load("b_hh", 4 * H))
x = load("x", B, T, I) if train else load("x", T, B, I)
result = {"torch": torch.__version__, "threads": torch.get_num_threads()}

if train:
    g = load("g", B, T, H)
    opt = torch.optim.SGD(lstm.parameters(), lr=0.01)
    with torch.no_grad():
        result["loss"] = float((lstm(x)[0] * g).sum() / B)

    def step():
        opt.zero_grad(set_to_none=False)
        loss = (lstm(x)[0] * g).sum() / B
        loss.backward()
        opt.step()
else:
    def step():
        with torch.no_grad():
            return lstm(x)[0]

    step().numpy().astype("<f4").tofile(f"{d}/torch_y.f32")

t0 = time.perf_counter()
warm = 0
while warm < 3 or (time.perf_counter() - t0) * 1000 < warm_ms:
    step()
    warm += 1
times = []
for _ in range(calls):
    s = time.perf_counter()
    step()
    times.append((time.perf_counter() - s) * 1000)
result["ms"] = float(np.median(times))
result["calls"] = calls
print(json.dumps(result))
