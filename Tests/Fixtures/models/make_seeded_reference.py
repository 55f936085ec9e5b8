# Writes seeded_reference.json: values of our counter-based generator computed independently in Python
# (seeded_rng.py, numpy + the platform libm) for SeededInitTests.cs to compare against the C# version.
# Rerun (dev machine only):  cd Tests/Fixtures/models && /usr/bin/python3 make_seeded_reference.py
import json

import numpy as np

import seeded_rng as R

cases = []
for seed, name in [(0, "features.0.weight"), (42, "classifier.6.weight"), (-1, "x"), (123456789, "conv_block_1.0.weight")]:
    key = R.tensor_key(seed, name)
    cases.append({
        "seed": seed,
        "name": name,
        "key": str(key),
        "raw": [str(int(v)) for v in R.next_np(key, np.arange(4, dtype=np.uint64))],
        "uniform": [float(v) for v in R.uniform(key, 6)],
        "normal": [float(v) for v in R.normal(key, 9)],
    })
# A whole conv weight through WeightInit: kaiming normal fan_out for [8, 3, 3, 3] (fan_out 72).
conv = R.init_tensor(5, "features.0.weight", (8, 3, 3, 3), "conv_weight")
lin = R.init_tensor(5, "classifier.0.weight", (3, 7), "linear_weight")
bn = R.init_tensor(5, "features.1.running_var", (6,), "bn_var", random_bn=True)
out = {
    "cases": cases,
    "conv_weight_seed5_8x3x3x3": [float(v) for v in conv.ravel()],
    "linear_weight_seed5_3x7": [float(v) for v in lin.ravel()],
    "bn_var_random_seed5_6": [float(v) for v in bn.ravel()],
}
with open("seeded_reference.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
