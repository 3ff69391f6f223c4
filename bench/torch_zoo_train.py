# The native anchor of bench/zoo-train.mjs: one SGD training step (forward, softmax cross-entropy,
# backward, update) of the zoo's networks in PyTorch on the CPU, one thread, float32, NCHW.
# Usage: python3 bench/torch_zoo_train.py <model> <batch> <size> <seconds>; prints one JSON line
# {"ms": median step ms, "steps": n}.
import json, sys, time
import torch
import torch.nn as tnn

torch.set_num_threads(1)
torch.manual_seed(0)


def lenet5(classes):
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
        tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, classes))


def build(name, classes):
    if name == "lenet5":
        return lenet5(classes), 1
    import torchvision.models as tv
    return getattr(tv, name)(num_classes=classes), 3


name, batch, size, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
classes = 10 if name == "lenet5" else 1000
model, channels = build(name, classes)
model.train()
opt = torch.optim.SGD(model.parameters(), lr=0.01)
loss_fn = tnn.CrossEntropyLoss()
x = torch.rand(batch, channels, size, size)
y = torch.randint(0, classes, (batch,))


def step():
    opt.zero_grad(set_to_none=False)
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()


for _ in range(2):
    step()
times = []
start = time.perf_counter()
while time.perf_counter() - start < seconds or len(times) < 3:
    t0 = time.perf_counter()
    step()
    times.append((time.perf_counter() - t0) * 1000)
times.sort()
print(json.dumps({"ms": times[len(times) // 2], "steps": len(times)}))
