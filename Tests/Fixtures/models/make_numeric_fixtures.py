# Writes numeric/*.npy and numeric/cases.json: torch 1.13 / torchvision 0.14 outputs of
#  - small VGG-style nets built with torchvision's own VGG class and make_layers (tiny widths, torchvision's
#    forward), with and without BN (random running statistics), a 7x7 and a global-average-pool head, a
#    512x512 input (16x16 -> AdaptiveAvgPool2d((7, 7)) with overlapping bins) and features-only outputs;
#  - TinyVGG and the MNIST CNN with their real weights (../shared/testdata/checkpoints).
# Weights and inputs come from our own seeded generator (seeded_rng.py, the twin of SeededRandom.cs), so the
# C# test rebuilds the same state dict from the recipe below (NumericFixtureTests.Recipe) without storing it:
#   conv weight: WeightInit (kaiming normal, fan_out); linear weight: N(0, 1/in_features);
#   conv and linear bias: N(0, 0.1^2); BatchNorm: WeightInit with random statistics; input: N(0, 1)
#   (TinyVGG: U[0, 1), like ToTensor's output).
# Rerun (dev machine only; CI never runs Python):
#   cd Tests/Fixtures/models && /usr/bin/python3 make_numeric_fixtures.py [path/to/shared/testdata]
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.vgg import VGG, make_layers

import seeded_rng as R

torch.set_grad_enabled(False)
OUT = "numeric"
os.makedirs(OUT, exist_ok=True)
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "testdata")

M = "M"
LAYOUT_D = [4, 4, M, 8, 8, M, 8, 8, 8, M, 8, 8, 8, M, 8, 8, 8, M]


def vgg_style(layout, bn, pool, hidden, classes):
    m = VGG(make_layers(layout, batch_norm=bn), num_classes=classes, init_weights=False)
    c = [v for v in layout if v != M][-1]
    m.avgpool = nn.AdaptiveAvgPool2d((pool, pool))
    if hidden:
        m.classifier = nn.Sequential(nn.Linear(c * pool * pool, hidden), nn.ReLU(True), nn.Dropout(), nn.Linear(hidden, hidden),
                                     nn.ReLU(True), nn.Dropout(), nn.Linear(hidden, classes))
    else:
        m.classifier = nn.Linear(c * pool * pool, classes)
    return m


def recipe_state_dict(model, seed):
    sd = {}
    for name, mod in model.named_modules():
        p = name + "." if name else ""
        if isinstance(mod, nn.Conv2d):
            sd[p + "weight"] = R.init_tensor(seed, p + "weight", mod.weight.shape, "conv_weight")
            sd[p + "bias"] = R.fill_normal(seed, p + "bias", mod.bias.shape, 0.0, 0.1)
        elif isinstance(mod, nn.Linear):
            sd[p + "weight"] = R.fill_normal(seed, p + "weight", mod.weight.shape, 0.0, 1.0 / math.sqrt(mod.in_features))
            sd[p + "bias"] = R.fill_normal(seed, p + "bias", mod.bias.shape, 0.0, 0.1)
        elif isinstance(mod, (nn.BatchNorm2d, nn.BatchNorm1d)):
            for k, role in [("weight", "bn_weight"), ("bias", "bn_bias"), ("running_mean", "bn_mean"), ("running_var", "bn_var")]:
                sd[p + k] = R.init_tensor(seed, p + k, getattr(mod, k).shape, role, random_bn=True)
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    return model.eval()


def seeded_input(seed, shape, dist):
    x = R.fill_uniform(seed, "input", shape, 0.0, 1.0) if dist == "uniform" else R.fill_normal(seed, "input", shape, 0.0, 1.0)
    return torch.from_numpy(x)


def capture(model, x, layers):
    """Outputs of named modules (features-only mode), the whole features block, and the model output."""
    out = {}
    mods = dict(model.named_modules())
    hooks = [mods[n].register_forward_hook(lambda m, i, o, n=n: out.__setitem__(n, o.clone())) for n in layers]
    y = model(x)
    for h in hooks:
        h.remove()
    return y, out


cases = []


def save(name, arr):
    path = f"{OUT}/{name}.npy"
    np.save(path, np.ascontiguousarray(arr.numpy().astype(np.float32)))
    return os.path.basename(path)


def vgg_case(name, layout, bn, pool, hidden, classes, seed, shape, features=()):
    model = recipe_state_dict(vgg_style(layout, bn, pool, hidden, classes), seed)
    x = seeded_input(seed, shape, "normal")
    y, feats = capture(model, x, features)
    outputs = {"logits": save(name, y)}
    for f in features:
        outputs[f] = save(f"{name}.{f}", feats[f])
    cases.append({"name": name, "kind": "vgg-style", "layout": layout, "batch_norm": bn, "pool": pool, "hidden": hidden,
                  "classes": classes, "seed": seed, "input": list(shape), "input_dist": "normal", "outputs": outputs})


# VGG-16-BN layout, random BN statistics, 7x7 head; 64x64 gives 2x2 features, so the 7x7 adaptive pool repeats bins.
vgg_case("vgg16bn_tiny_64", LAYOUT_D, True, 7, 16, 5, 11, (2, 3, 64, 64))
# VGG-16 layout, 7x7 head, features-only outputs ("features.29" is the last ReLU, "features" ends with the last pool).
vgg_case("vgg16_tiny_features", LAYOUT_D, False, 7, 16, 5, 12, (1, 3, 64, 64), features=("features.29", "features", "avgpool", "classifier.3"))
# Global-average-pool head with a single Linear (model.classifier = nn.Linear(C, n)), non-square input.
vgg_case("vgg11bn_tiny_gap_48x80", [4, M, 8, M, 8, 8, M, 8, 8, M, 8, 8, M], True, 1, 0, 7, 13, (2, 3, 48, 80))
# The seed guide's 512x512 input: 16x16 features, AdaptiveAvgPool2d((7, 7)) with PyTorch's overlapping bins.
vgg_case("vgg11_tiny_512", [4, M, 4, M, 8, 8, M, 8, 8, M, 8, 8, M], False, 7, 16, 10, 14, (1, 3, 512, 512), features=("avgpool",))


def saved_checkpoint_case(name, layout, bn, pool, hidden, classes, seed, shape):
    """A checkpoint as a DataParallel training script saves it: {"state_dict": {"module.…": float16}, "epoch": …}."""
    model = recipe_state_dict(vgg_style(layout, bn, pool, hidden, classes), seed)
    half = {"module." + k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    torch.save({"state_dict": half, "epoch": 3, "best_acc1": 0.5}, f"{OUT}/{name}.pth")
    # the reference runs on the float16-rounded weights, as the engine will after converting them to float32
    model.load_state_dict({k[len("module."):]: v.float() if v.is_floating_point() else v for k, v in half.items()})
    x = seeded_input(seed, shape, "normal")
    cases.append({"name": name, "kind": "checkpoint", "checkpoint_file": f"{name}.pth", "seed": seed, "input": list(shape),
                  "input_dist": "normal", "outputs": {"logits": save(name, model(x))}})


saved_checkpoint_case("vgg11bn_tiny_dp_fp16", [4, M, 8, M, 8, 8, M, 8, 8, M, 8, 8, M], True, 7, 16, 5, 15, (2, 3, 40, 40))


class TinyVGG(nn.Module):
    # going_modular/going_modular/model_builder.py (SOURCES.md 5a), hidden_units=10
    def __init__(self, input_shape=3, hidden_units=10, output_shape=3):
        super().__init__()
        self.conv_block_1 = nn.Sequential(nn.Conv2d(input_shape, hidden_units, 3, 1, 0), nn.ReLU(),
                                          nn.Conv2d(hidden_units, hidden_units, 3, 1, 0), nn.ReLU(), nn.MaxPool2d(2, 2))
        self.conv_block_2 = nn.Sequential(nn.Conv2d(hidden_units, hidden_units, 3, padding=0), nn.ReLU(),
                                          nn.Conv2d(hidden_units, hidden_units, 3, padding=0), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(hidden_units * 13 * 13, output_shape))

    def forward(self, x):
        return self.classifier(self.conv_block_2(self.conv_block_1(x)))


class MnistNet(nn.Module):
    # tracel-ai/burn examples/import-model-weights/weights/mnist_train_export.py (SOURCES.md 5b)
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.conv3 = nn.Conv2d(16, 24, 3)
        self.norm1 = nn.BatchNorm2d(24)
        self.dropout1 = nn.Dropout(0.3)
        self.fc1 = nn.Linear(24 * 22 * 22, 32)
        self.fc2 = nn.Linear(32, 10)
        self.norm2 = nn.BatchNorm1d(10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        x = self.norm1(x)
        x = torch.flatten(x, 1)
        x = self.dropout1(F.relu(self.fc1(x)))
        x = self.norm2(self.fc2(x))
        return F.log_softmax(x, dim=1)


def real_case(name, model, ckpt, seed, shape, dist, spec):
    path = os.path.join(SHARED, "checkpoints", ckpt)
    model.load_state_dict(torch.load(path, map_location="cpu"))
    model.eval()
    x = seeded_input(seed, shape, dist)
    y = model(x)
    cases.append({"name": name, "kind": "spec", "spec": spec, "checkpoint": ckpt, "seed": seed, "input": list(shape),
                  "input_dist": dist, "outputs": {"output": save(name, y)}})


real_case("tinyvgg_real", TinyVGG(), "tinyvgg/05_going_modular_script_mode_tinyvgg_model.pth", 21, (2, 3, 64, 64), "uniform", "tinyvgg.json")
real_case("mnist_real", MnistNet(), "mnist-cnn/mnist.pt", 22, (3, 1, 28, 28), "normal", "mnist-cnn.json")

with open(f"{OUT}/cases.json", "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, indent=1)
    f.write("\n")
print("\n".join(f"{c['name']}: {list(c['outputs'])}" for c in cases))
