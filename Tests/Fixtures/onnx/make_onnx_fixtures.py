# Generates the torch.onnx.export fixtures of Tests/Onnx (dev only; CI never runs Python).
# Rerun from the repository root with Debian's Python, which has torch 1.13 and onnx 1.12:
#     /usr/bin/python3 Tests/Fixtures/onnx/make_onnx_fixtures.py
# Writes into Tests/Fixtures/onnx/:
#   smallvgg_opset{7,9,11,13,17}.onnx   a small VGG-style net (conv+ReLU+BN, conv+BN+ReLU (torch folds this BN
#                                       into the conv), max-pool with ceil_mode,
#                                       adaptive average pool, x.view(x.size(0), -1), linear+BN1d+ReLU,
#                                       dropout, linear, log_softmax), dynamic batch axis
#   smallvgg_inputs_opset9.onnx         the same, keep_initializers_as_inputs=True (weights also graph inputs)
#   smallvgg_external/model.onnx        the same, opset 13, every initializer in external data (weights.bin)
#   smallvgg_input.pb / .npy            the seeded input, float32 [2, 3, 20, 20]
#   smallvgg_output.pb / .npy           torch's output for it (eval mode), float32 [2, 10]
#   smallvgg_folded_opset13.onnx        exported with do_constant_folding=True (torch folds Conv+BN; the
#                                       Shape→Gather→Unsqueeze→Concat chain stays because the batch is dynamic)
import os
import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

torch.manual_seed(20240611)
HERE = os.path.dirname(os.path.abspath(__file__))


class SmallVgg(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(6),  # BN after ReLU: not folded by torch
            nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, ceil_mode=True),   # 10 -> 5 (ceil)
        )
        self.pool = nn.AdaptiveAvgPool2d((5, 5))  # input 5x5: uniform bins
        self.classifier = nn.Sequential(
            nn.Linear(8 * 5 * 5, 16), nn.BatchNorm1d(16), nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(16, 10),
        )

    def forward(self, x):
        x = self.features(x)
        x = self.pool(x)
        x = x.view(x.size(0), -1)
        x = self.classifier(x)
        return torch.log_softmax(x, dim=1)


def main():
    net = SmallVgg()
    # Non-trivial BN statistics so that folding mistakes show.
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    net.eval()
    x = torch.randn(2, 3, 20, 20)
    with torch.no_grad():
        y = net(x)
    np.save(os.path.join(HERE, "smallvgg_input.npy"), x.numpy())
    np.save(os.path.join(HERE, "smallvgg_output.npy"), y.numpy())
    onnx.save_tensor(numpy_helper.from_array(x.numpy(), "input"), os.path.join(HERE, "smallvgg_input.pb"))
    onnx.save_tensor(numpy_helper.from_array(y.numpy(), "output"), os.path.join(HERE, "smallvgg_output.pb"))

    dyn = {"input": {0: "batch"}, "output": {0: "batch"}}

    def export(path, opset, **kw):
        torch.onnx.export(net, x, path, opset_version=opset, input_names=["input"], output_names=["output"],
                          dynamic_axes=dyn, **kw)
        print("wrote", os.path.relpath(path, HERE), "ops:", sorted({n.op_type for n in onnx.load(path).graph.node}))

    for opset in (7, 9, 11, 13, 17):
        export(os.path.join(HERE, f"smallvgg_opset{opset}.onnx"), opset, do_constant_folding=False)
    export(os.path.join(HERE, "smallvgg_folded_opset13.onnx"), 13, do_constant_folding=True)
    export(os.path.join(HERE, "smallvgg_inputs_opset9.onnx"), 9, do_constant_folding=False,
           keep_initializers_as_inputs=True)

    ext_dir = os.path.join(HERE, "smallvgg_external")
    os.makedirs(ext_dir, exist_ok=True)
    tmp = os.path.join(ext_dir, "tmp.onnx")
    export(tmp, 13, do_constant_folding=False)
    m = onnx.load(tmp)
    os.remove(tmp)
    onnx.save_model(m, os.path.join(ext_dir, "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    print("wrote smallvgg_external/model.onnx + weights.bin")


if __name__ == "__main__":
    main()
