# Writes expected.json: class probabilities computed by torch 1.13 / torchvision 0.14 on PIL 9.4, as the
# independent reference for `vgg classify` (Tests/Cli/ClassifyReferenceTests.cs):
#  - TinyVGG (real weights, shared/testdata SOURCES.md 5a) on images/hopper.png: Resize((64, 64)), ToTensor, softmax;
#  - the MNIST CNN (real weights, 5b) on images/mnist/*.png: ToTensor, Normalize((0.1307,), (0.3081,)), exp(log_softmax);
#  - the DataParallel float16 VGG-11-BN-style checkpoint of Tests/Fixtures/models/numeric (5 classes, wrapper key
#    "state_dict") on images/hopper.png with the ImageNet pipeline: Resize(256), CenterCrop(224), Normalize, softmax.
# PNG inputs only, so the decoder is not a source of difference (our resize is Pillow's, bit for bit).
# Rerun (dev machine only; CI never runs Python):
#   cd Tests/Fixtures/cli && /usr/bin/python3 make_cli_fixtures.py [path/to/shared/testdata]
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms
from torchvision.models.vgg import VGG, make_layers

torch.set_grad_enabled(False)
HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "..", "shared", "testdata")


class TinyVGG(nn.Module):
    # going_modular/going_modular/model_builder.py (SOURCES.md 5a), hidden_units=10
    def __init__(self):
        super().__init__()
        self.conv_block_1 = nn.Sequential(nn.Conv2d(3, 10, 3, 1, 0), nn.ReLU(), nn.Conv2d(10, 10, 3, 1, 0), nn.ReLU(), nn.MaxPool2d(2, 2))
        self.conv_block_2 = nn.Sequential(nn.Conv2d(10, 10, 3, padding=0), nn.ReLU(), nn.Conv2d(10, 10, 3, padding=0), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(10 * 13 * 13, 3))

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
        x = F.relu(self.fc1(x))
        x = self.dropout1(x)
        x = self.norm2(self.fc2(x))
        return F.log_softmax(x, dim=1)


def vgg_style(layout, bn, pool, hidden, classes):
    # as Tests/Fixtures/models/make_numeric_fixtures.py
    m = VGG(make_layers(layout, batch_norm=bn), num_classes=classes, init_weights=False)
    c = [v for v in layout if v != "M"][-1]
    m.avgpool = nn.AdaptiveAvgPool2d((pool, pool))
    m.classifier = nn.Sequential(nn.Linear(c * pool * pool, hidden), nn.ReLU(True), nn.Dropout(), nn.Linear(hidden, hidden),
                                 nn.ReLU(True), nn.Dropout(), nn.Linear(hidden, classes))
    return m


def probs(t):
    return [float(v) for v in t[0].double()]


expected = {"torch": torch.__version__, "cases": []}

tiny = TinyVGG()
tiny.load_state_dict(torch.load(os.path.join(SHARED, "checkpoints/tinyvgg/05_going_modular_script_mode_tinyvgg_model.pth"), map_location="cpu"))
tiny.eval()
tf = transforms.Compose([transforms.Resize((64, 64)), transforms.ToTensor()])
x = tf(Image.open(os.path.join(SHARED, "images/hopper.png")).convert("RGB")).unsqueeze(0)
expected["cases"].append({"model": "tinyvgg", "image": "images/hopper.png", "labels": ["pizza", "steak", "sushi"],
                          "prob": probs(torch.softmax(tiny(x), dim=1))})

mnist = MnistNet()
mnist.load_state_dict(torch.load(os.path.join(SHARED, "checkpoints/mnist-cnn/mnist.pt"), map_location="cpu"))
mnist.eval()
tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
for d in range(7):
    x = tf(Image.open(os.path.join(SHARED, f"images/mnist/{d}.png")).convert("L")).unsqueeze(0)
    expected["cases"].append({"model": "mnist-cnn", "image": f"images/mnist/{d}.png", "prob": probs(torch.exp(mnist(x)))})

M = "M"
vgg = vgg_style([4, M, 8, M, 8, 8, M, 8, 8, M, 8, 8, M], True, 7, 16, 5)
ck = torch.load(os.path.join(HERE, "..", "models", "numeric", "vgg11bn_tiny_dp_fp16.pth"), map_location="cpu")
vgg.load_state_dict({k[len("module."):]: v.float() if v.is_floating_point() else v for k, v in ck["state_dict"].items()})
vgg.eval()
tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                         transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
x = tf(Image.open(os.path.join(SHARED, "images/hopper.png")).convert("RGB")).unsqueeze(0)
expected["cases"].append({"model": "vgg11bn_tiny_dp_fp16", "image": "images/hopper.png", "prob": probs(torch.softmax(vgg(x), dim=1))})

with open(os.path.join(HERE, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
print(json.dumps(expected)[:600])
