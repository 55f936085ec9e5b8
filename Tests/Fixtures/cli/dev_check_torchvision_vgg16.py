# Dev-machine check (not run in CI; writes nothing into the repository): the README's real-weights command
#   vgg classify --weights vgg16-397923af.pth --labels imagenet_index_to_name.json kitten.jpg --json
# on a file in the same container as the real download, against torch itself. torchvision's vgg16-397923af.pth
# (2017) is a legacy torch.save stream (pre-1.6, not zip) of a bare state dict with torchvision's keys; the
# 528 MB file cannot be downloaded here, so this script saves a torchvision VGG-16 with random weights in that
# format (_use_new_zipfile_serialization=False), scaled in the last layer so that the top-5 is peaked rather than
# near-uniform, runs torch's ImageNet pipeline on kitten.jpg, then the vgg command, and compares the top-5.
# JPEG decoding differs (libjpeg-turbo in PIL, ImageSharp here) by about one grey level, so probabilities are
# compared within 0.02, the top-5 as a set.
# Run from the repository root after building the CLI (dotnet build Cli -c Release):
#   /usr/bin/python3 Tests/Fixtures/cli/dev_check_torchvision_vgg16.py [path/to/shared/testdata] [path/to/vgg]
import json
import os
import subprocess
import sys
import tempfile

import torch
import torchvision
from PIL import Image
from torchvision import transforms

torch.set_grad_enabled(False)
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "testdata")
VGG = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "Cli", "bin", "Release", "net10.0", "vgg")

torch.manual_seed(1)
model = torchvision.models.vgg16().eval()
model.classifier[6].weight.mul_(300.0)  # peaked output: distinct top-5 despite decoder differences
kitten = os.path.join(SHARED, "images", "kitten.jpg")
labels_path = os.path.join(SHARED, "labels", "imagenet_index_to_name.json")
labels = json.load(open(labels_path))
tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                         transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
p = torch.softmax(model(tf(Image.open(kitten).convert("RGB")).unsqueeze(0)), dim=1)[0].double()
top = torch.topk(p, 5)
torch_top = [(int(i), labels[str(int(i))][1], float(v)) for v, i in zip(top.values, top.indices)]

with tempfile.TemporaryDirectory() as tmp:
    weights = os.path.join(tmp, "vgg16-397923af.pth")
    torch.save(model.state_dict(), weights, _use_new_zipfile_serialization=False)
    out = subprocess.run([VGG, "classify", "--weights", weights, "--labels", labels_path, kitten, "--json", "--verbose"],
                         capture_output=True, text=True, check=False)
print(out.stderr)
assert out.returncode == 0, out.returncode
ours = [(t["index"], t["label"], t["prob"]) for t in json.loads(out.stdout)["top"]]
print("torch:", torch_top)
print("vgg:  ", ours)
assert {i for i, _, _ in ours} == {i for i, _, _ in torch_top}, "top-5 sets differ"
for i, name, prob in torch_top:
    mine = next(t for t in ours if t[0] == i)
    assert mine[1] == name and abs(mine[2] - prob) <= 0.02, (mine, (i, name, prob))
print("OK: legacy-format torchvision VGG-16 recognised, labels and top-5 agree with torch")
