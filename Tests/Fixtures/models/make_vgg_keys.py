# Writes vgg_keys.json: for each torchvision VGG builder (torchvision 0.14), the state-dict keys in
# order with shape and dtype, for num_classes 1000 (the ImageNet head) and 10 (a fine-tuned head).
# Used by Tests/Models/VggStructureTests.cs to check our builder and recognizer against torchvision.
# Rerun (dev machine only; CI never runs Python):
#   cd Tests/Fixtures/models && /usr/bin/python3 make_vgg_keys.py
import json
import torch
import torchvision

out = {"torch": torch.__version__, "torchvision": torchvision.__version__, "models": {}}
for name in ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]:
    for nc in (1000, 10):
        # init_weights=False: only the structure is needed (skips the slow init of 138 M values)
        m = getattr(torchvision.models, name)(weights=None, num_classes=nc, init_weights=False)
        sd = m.state_dict()
        out["models"][f"{name}/{nc}"] = {
            "arch": name,
            "num_classes": nc,
            "parameters": sum(p.numel() for p in m.parameters()),
            "keys": [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in sd.items()],
            "modules": [n for n, _ in m.named_modules() if n],
        }

# one line per model entry keeps the file small and its diffs readable
with open("vgg_keys.json", "w") as f:
    f.write('{"torch":%s,"torchvision":%s,"models":{\n' % (json.dumps(out["torch"]), json.dumps(out["torchvision"])))
    items = list(out["models"].items())
    for i, (k, v) in enumerate(items):
        f.write(json.dumps(k) + ":" + json.dumps(v, separators=(",", ":")) + ("," if i + 1 < len(items) else "") + "\n")
    f.write("}}\n")
