# Per-layer shapes and operation counts of torchvision VGG models, taken from torch itself: forward
# hooks record every leaf module's input and output shapes on a real forward pass, and the counts are
# derived from those shapes and the module's own attributes (not from our IR). The perf tests compare
# the harness's FLOP/byte registry (Perf/Harness/OpCosts.cs) against this file.
#
# Rerun (dev only; CI never runs Python):
#   /usr/bin/python3 Tests/Fixtures/perf/make_vgg_costs.py
# torch 1.13 / torchvision 0.14. Writes Tests/Fixtures/perf/vgg_costs.json next to this script.
#
# Counts, per leaf module (batch N = 1 unless stated):
#   conv2d:  macs = out.numel() * (in_channels / groups) * kh * kw      (multiply-adds)
#   linear:  macs = out.numel() * in_features
#   params:  weight and bias element counts (torch's own parameter tensors)
# Nothing is timed here.
import json
import os

import torch
import torchvision

NAMES = ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]


def layers_of(name, n=1, size=224):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    records = []
    hooks = []
    for mod_name, mod in model.named_modules():
        if len(list(mod.children())) > 0:
            continue

        def hook(m, inp, out, mod_name=mod_name):
            rec = {
                "name": mod_name,
                "type": type(m).__name__,
                "input": list(inp[0].shape),
                "output": list(out.shape),
                "params": sum(p.numel() for p in m.parameters(recurse=False)),
            }
            if isinstance(m, torch.nn.Conv2d):
                rec.update(kernel=list(m.kernel_size), stride=list(m.stride), padding=list(m.padding),
                           groups=m.groups, bias=m.bias is not None,
                           macs=out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1])
            elif isinstance(m, torch.nn.Linear):
                rec.update(bias=m.bias is not None, macs=out.numel() * m.in_features)
            elif isinstance(m, torch.nn.MaxPool2d):
                k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
                s = m.stride if isinstance(m.stride, int) else m.stride[0]
                rec.update(kernel=[k, k], stride=[s, s], ceil_mode=m.ceil_mode)
            elif isinstance(m, torch.nn.AdaptiveAvgPool2d):
                rec.update(output_size=list(m.output_size))
            elif isinstance(m, torch.nn.BatchNorm2d):
                rec.update(eps=m.eps)
            records.append(rec)

        hooks.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        model(torch.randn(n, 3, size, size))
    for h in hooks:
        h.remove()
    total_params = sum(p.numel() for p in model.parameters())
    return records, total_params


def main():
    out = {"generator": "make_vgg_costs.py, torch %s, torchvision %s" % (torch.__version__, torchvision.__version__),
           "models": []}
    for name in NAMES:
        recs, params = layers_of(name)
        macs = sum(r.get("macs", 0) for r in recs)
        out["models"].append({"name": name, "batch": 1, "size": 224, "params": params, "macs": macs, "layers": recs})
    # one batch-8 run of VGG-16: counts scale with N
    recs, params = layers_of("vgg16", n=8)
    out["models"].append({"name": "vgg16", "batch": 8, "size": 224, "params": params,
                          "macs": sum(r.get("macs", 0) for r in recs), "layers": recs})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vgg_costs.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    for m in out["models"]:
        print(m["name"], "N=%d" % m["batch"], "params", m["params"], "GMACs %.4f" % (m["macs"] / 1e9))


if __name__ == "__main__":
    main()
