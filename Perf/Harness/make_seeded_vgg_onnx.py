# Dev-only stand-in for `vgg export --onnx` until the ONNX exporter lands: writes torchvision's VGG with the
# same seeded weights as ModelFactory.Seeded(arch, seed) (the recipe of WeightInit.cs through seeded_rng.py,
# the Python twin of SeededRandom.cs) as ONNX (opset 17, input "input" [N, 3, H, W] with a dynamic N), so that
# `vgg bench --arch ARCH --weights-seed SEED --onnx OUT` times ONNX Runtime on the same model and weights.
#
#   /usr/bin/python3 Perf/Harness/make_seeded_vgg_onnx.py vgg16 0 /tmp/vgg16-seed0.onnx [size]
#
# torch 1.13 / torchvision 0.14 (dev machine only; the harness itself never runs Python).
import math
import os
import sys

import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures", "models"))
import seeded_rng as R  # noqa: E402

arch, seed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
size = int(sys.argv[4]) if len(sys.argv) > 4 else 224
torch.set_grad_enabled(False)
model = getattr(torchvision.models, arch)(weights=None).eval()
sd = {}
for name, mod in model.named_modules():
    p = name + "." if name else ""
    if isinstance(mod, nn.Conv2d):
        sd[p + "weight"] = R.init_tensor(seed, p + "weight", mod.weight.shape, "conv_weight")
        sd[p + "bias"] = R.init_tensor(seed, p + "bias", mod.bias.shape, "conv_bias")
    elif isinstance(mod, nn.Linear):
        sd[p + "weight"] = R.init_tensor(seed, p + "weight", mod.weight.shape, "linear_weight")
        sd[p + "bias"] = R.init_tensor(seed, p + "bias", mod.bias.shape, "linear_bias")
    elif isinstance(mod, nn.BatchNorm2d):
        for k, role in [("weight", "bn_weight"), ("bias", "bn_bias"), ("running_mean", "bn_mean"), ("running_var", "bn_var")]:
            sd[p + k] = R.init_tensor(seed, p + k, getattr(mod, k).shape, role)
missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=False)
assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
torch.onnx.export(model, torch.randn(1, 3, size, size), out, opset_version=17, input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
print(out, os.path.getsize(out))
