# Python twin of Engine/Models/SeededRandom.cs and WeightInit.cs (torchvision VGG init from our
# counter-based generator). Imported by the make_*.py fixture scripts; dev only, CI never runs Python.
# It uses the platform's math.log/cos/sin where C# uses DetMath, so a value may differ in the last bit
# of a double (and, rarely, by one float32 ulp after rounding); the tests allow for that.
import math
import struct

import numpy as np

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def mix(z):
    z &= MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def tensor_key(seed, name):
    h = 0xCBF29CE484222325
    for b in name.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & MASK
    return mix(((seed & 0xFFFFFFFF) + mix(h)) & MASK)


# vectorised with numpy uint64 (wrapping arithmetic)
def _mix_np(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def next_np(key, counters):
    with np.errstate(over="ignore"):
        return _mix_np(np.uint64(key) + (counters.astype(np.uint64) + np.uint64(1)) * np.uint64(GAMMA))


def uniform(key, n):
    c = np.arange(n, dtype=np.uint64)
    return (next_np(key, c) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def normal(key, n):
    pairs = (n + 1) // 2
    j = np.arange(pairs, dtype=np.uint64)
    u1 = ((next_np(key, 2 * j) >> np.uint64(11)) + np.uint64(1)).astype(np.float64) * (1.0 / (1 << 53))
    u2 = (next_np(key, 2 * j + np.uint64(1)) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
    r = np.sqrt(-2.0 * np.log(u1))
    out = np.empty(2 * pairs, dtype=np.float64)
    out[0::2] = r * np.cos(2 * np.pi * u2)
    out[1::2] = r * np.sin(2 * np.pi * u2)
    return out[:n]


def fill_normal(seed, name, shape, mean, std):
    n = int(np.prod(shape)) if len(shape) else 1
    return (mean + std * normal(tensor_key(seed, name), n)).astype(np.float32).reshape(shape)


def fill_uniform(seed, name, shape, lo, hi):
    n = int(np.prod(shape)) if len(shape) else 1
    return (lo + (hi - lo) * uniform(tensor_key(seed, name), n)).astype(np.float32).reshape(shape)


def init_tensor(seed, key, shape, role, random_bn=False):
    """WeightInit.Create: role is one of conv_weight, conv_bias, bn_weight, bn_bias, bn_mean, bn_var, linear_weight, linear_bias."""
    shape = tuple(shape)
    if role == "conv_weight":
        fan_out = shape[0] * int(np.prod(shape[2:]))
        return fill_normal(seed, key, shape, 0.0, math.sqrt(2.0) / math.sqrt(fan_out))
    if role == "linear_weight":
        return fill_normal(seed, key, shape, 0.0, 0.01)
    if role in ("bn_weight", "bn_var"):
        return fill_uniform(seed, key, shape, 0.5, 1.5) if random_bn else np.ones(shape, np.float32)
    if role in ("bn_bias", "bn_mean"):
        return fill_normal(seed, key, shape, 0.0, 0.1) if random_bn else np.zeros(shape, np.float32)
    return np.zeros(shape, np.float32)
