# A small seeded VGG-style CNN exported to ONNX by torch 1.13, for the perf harness tests: ONNX Runtime
# runs it as a bench target and its profile gives per-layer shapes whose FLOP counts the tests know.
#
# Rerun (dev only; CI never runs Python):
#   /usr/bin/python3 Tests/Fixtures/perf/make_small_onnx.py
# Writes Tests/Fixtures/perf/small_cnn.onnx (opset 17, input "input" float32 [N, 3, 32, 32] with a dynamic N,
# output "logits" [N, 10]).
# Layers: conv 3->8 3x3 pad 1, relu, maxpool 2; conv 8->16 3x3 pad 1, relu, maxpool 2; flatten; linear 1024->10.
import os

import torch
import torch.nn as nn

torch.manual_seed(20261130)
net = nn.Sequential(
    nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(16 * 8 * 8, 10)).eval()
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "small_cnn.onnx")
torch.onnx.export(net, torch.randn(1, 3, 32, 32), path, opset_version=17, input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
print(path, os.path.getsize(path))
