#!/usr/bin/python3
"""Generates the loader test fixtures in this folder and their expected values (expected.json).

Dev-only (CI never runs Python). Rerun from the repository root with Debian's Python, which has
torch 1.13:

    /usr/bin/python3 Tests/Fixtures/loader/make_loader_fixtures.py

Every fixture is tiny (a few KiB). Values are seeded. What each file exercises:

  transposed_{zip,legacy}.pt       a transposed (non-contiguous) tensor saved as-is (stride (1, 4))
  shared_{zip,legacy}.pt           four tensors viewing one storage with offsets and strides
  protocol{4,1}_{zip,legacy}.pt
                                   the same, pickled with protocol 4 and protocol 1 (torch.save's pickle_protocol)
  dtypes_{zip,legacy}.pt           every storage dtype, plus a 0-d scalar and an empty tensor
  legacy_storage_view.pt           legacy stream with a pre-1.0 storage *view* in the persistent id
                                   (written by hand: torch 1.13 no longer writes views)
  tar_format.pt                    the pre-0.4 tar format (written by hand, see write_tar below)
  wrap_{state_dict,model,net,model_state_dict}.pt
                                   a checkpoint dict holding the state dict under each wrapper key,
                                   beside epoch, loss and the optimizer's state
  dataparallel.pt                  nn.DataParallel(model).state_dict(): keys start with "module."
  parameter_legacy.pt              nn.Parameter values in the legacy format
  big_endian.pt                    a zip checkpoint rewritten with byteorder "big" and byte-swapped data
  whole_module_{zip,legacy}.pt     torch.save(model): pickles the class __main__.TinyNet (must be refused)
  evil_os_system.pt                zip whose data.pkl calls os.system (hand-written pickle)
  evil_builtins_eval.pt            legacy stream whose object pickle calls builtins.eval
  evil_posix_system_stack_global.pt  zip, protocol-4 STACK_GLOBAL posix.system
  evil_hidden_in_metadata.pt       a valid state dict plus an ignored entry that calls os.system
  lying_safetensors.safetensors    safetensors whose header claims more data than the file holds
  overlap_safetensors.safetensors  safetensors whose two tensors' data_offsets overlap
  short_storage.pt                 zip whose pickle says a tensor needs more elements than its storage has
  complex_storage.pt               zip with a ComplexFloatStorage tensor (an unsupported dtype)
  huge_numel.pt                    zip whose pickle claims a storage of 2**40 elements (36 bytes stored)
  real_checkpoint_digests.json     per tensor of the real checkpoints in ../shared/testdata/checkpoints
                                   (read in place, never copied): dtype, shape and the SHA-256 of the
                                   contiguous little-endian bytes, as torch.load (for .pt/.pth) and a
                                   plain numpy/json parse (for .safetensors) give them.

The malicious pickles are only ever written here, never loaded by Python. Their command would touch
/tmp/vgg_loader_pwned_marker; the tests check that this file does not appear.
"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import tarfile
import zipfile

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
MARKER = "/tmp/vgg_loader_pwned_marker"
expected = {}


def values_of(t):
    """Row-major values as JSON numbers (bool -> 0/1, NaN/Inf as strings)."""
    flat = t.detach().contiguous().reshape(-1)
    if t.dtype == torch.bool:
        return [int(v) for v in flat.tolist()]
    if t.dtype in (torch.float16, torch.bfloat16):
        flat = flat.float()
    out = []
    for v in flat.tolist():
        if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
            out.append(str(v))
        else:
            out.append(v)
    return out


DTYPE_NAMES = {
    torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float64: "float64",
    torch.int64: "int64", torch.int32: "int32", torch.int16: "int16", torch.int8: "int8",
    torch.uint8: "uint8", torch.bool: "bool",
}


def record(name, tensors, fmt, wrapper=None, ignored=None):
    expected[name] = {
        "format": fmt,
        "wrapper": wrapper,
        "ignored": ignored or [],
        "tensors": {k: {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "values": values_of(t)}
                    for k, t in tensors.items()},
    }


def save(obj, name, legacy=False):
    torch.save(obj, os.path.join(HERE, name), _use_new_zipfile_serialization=not legacy)


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).mean((2, 3)))


def tiny_state_dict():
    torch.manual_seed(1)
    m = TinyNet()
    with torch.no_grad():
        m.bn.running_mean.copy_(torch.randn(4) * 0.1)
        m.bn.running_var.copy_(torch.rand(4) + 0.5)
        m.bn.num_batches_tracked.fill_(7)
    return m


def main():
    g = torch.Generator().manual_seed(20240601)

    # --- non-contiguous: a transposed tensor saved as-is
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) * 0.5 + 0.25
    tt = base.t()
    assert not tt.is_contiguous() and tt.stride() == (1, 4)
    for fmt, legacy in (("zip", False), ("legacy", True)):
        name = f"transposed_{fmt}.pt"
        save({"w_t": tt}, name, legacy)
        record(name, {"w_t": tt}, "pytorch-" + fmt)

    # --- one storage, four views with offsets and strides
    s = torch.randn(20, generator=g)
    shared = collections.OrderedDict([
        ("all", s),
        ("slice", s[2:7]),
        ("block", s.view(4, 5)[1:, 1:3]),
        ("every3", s[1::3]),
    ])
    assert shared["block"].storage_offset() == 6 and not shared["block"].is_contiguous()
    for fmt, legacy in (("zip", False), ("legacy", True)):
        name = f"shared_{fmt}.pt"
        save(shared, name, legacy)
        record(name, shared, "pytorch-" + fmt)

    # --- other pickle protocols: 4 (FRAME, MEMOIZE, STACK_GLOBAL, SHORT_BINUNICODE) and 1 (no protocol-2 opcodes)
    for name, proto, legacy in (("protocol4_zip.pt", 4, False), ("protocol4_legacy.pt", 4, True), ("protocol1_zip.pt", 1, False),
                                 ("protocol1_legacy.pt", 1, True)):
        torch.save(shared, os.path.join(HERE, name), pickle_protocol=proto, _use_new_zipfile_serialization=not legacy)
        record(name, shared, "pytorch-legacy" if legacy else "pytorch-zip")

    # --- every dtype, a 0-d scalar, an empty tensor
    dt = collections.OrderedDict()
    dt["float32"] = torch.tensor([1.5, -2.25, 3.0e-3, 65504.0], dtype=torch.float32)
    dt["float16"] = torch.tensor([1.5, -2.25, 0.0999755859375, 65504.0], dtype=torch.float16)
    dt["bfloat16"] = torch.tensor([1.5, -2.5, 3.140625, -1.0e10], dtype=torch.bfloat16)
    dt["float64"] = torch.tensor([1.0 / 3.0, -2.5e-300, 1.0e300], dtype=torch.float64)
    dt["int64"] = torch.tensor([2**40 + 3, -(2**62), 0, 7], dtype=torch.int64)
    dt["int32"] = torch.tensor([2**31 - 1, -(2**31), 5], dtype=torch.int32)
    dt["int16"] = torch.tensor([32767, -32768, 12], dtype=torch.int16)
    dt["int8"] = torch.tensor([127, -128, -3], dtype=torch.int8)
    dt["uint8"] = torch.tensor([0, 200, 255], dtype=torch.uint8)
    dt["bool"] = torch.tensor([True, False, True], dtype=torch.bool)
    dt["scalar"] = torch.tensor(2.75, dtype=torch.float32)
    dt["empty"] = torch.zeros(0, 3, dtype=torch.float32)
    dt["matrix_f16"] = torch.randn(2, 3, generator=g).half()
    for fmt, legacy in (("zip", False), ("legacy", True)):
        name = f"dtypes_{fmt}.pt"
        save(dt, name, legacy)
        record(name, dt, "pytorch-" + fmt)

    # --- wrappers
    m = tiny_state_dict()
    sd = m.state_dict()
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    m(torch.randn(1, 3, 5, 5, generator=g)).sum().backward()
    opt.step()
    sd = m.state_dict()
    for key in ("state_dict", "model", "net", "model_state_dict"):
        name = f"wrap_{key}.pt"
        ck = {"epoch": 3, key: sd, "loss": 0.5, "optimizer": opt.state_dict(), "arch": "tinynet"}
        save(ck, name)
        record(name, sd, "pytorch-zip", wrapper=key, ignored=["epoch", "loss", "optimizer", "arch"])

    # --- DataParallel-style keys
    dp = nn.DataParallel(m).state_dict()
    assert all(k.startswith("module.") for k in dp)
    save(dp, "dataparallel.pt")
    record("dataparallel.pt", dp, "pytorch-zip")

    # --- nn.Parameter in the legacy format
    torch.manual_seed(5)
    p = {"p": nn.Parameter(torch.randn(2, 2)), "q": nn.Parameter(torch.randn(3), requires_grad=False)}
    save(p, "parameter_legacy.pt", legacy=True)
    record("parameter_legacy.pt", p, "pytorch-legacy")

    # --- a pickled whole module (refused: __main__.TinyNet)
    save(m, "whole_module_zip.pt")
    save(m, "whole_module_legacy.pt", legacy=True)

    write_big_endian(base)
    write_legacy_storage_view()
    write_tar()
    write_evil()
    write_bad_safetensors()
    write_short_and_complex()

    write_real_digests()

    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote", len(os.listdir(HERE)), "files to", HERE)


def write_big_endian(base):
    """A zip checkpoint as torch >= 2.1 on a big-endian machine writes it: byteorder 'big'."""
    vals = {"w": base.clone(), "i": torch.tensor([1, -2, 300], dtype=torch.int64), "h": torch.tensor([0.5, -1.5], dtype=torch.float16)}
    buf = io.BytesIO()
    torch.save(vals, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = zipfile.ZipFile(os.path.join(HERE, "big_endian.pt"), "w", zipfile.ZIP_STORED)
    # data/<key> order follows the pickle: w (float32), i (int64), h (float16)
    sizes = {}
    for k, t in vals.items():
        sizes[k] = t.element_size()
    keys_in_order = list(vals.keys())
    for info in src.infolist():
        data = src.read(info.filename)
        short = info.filename.split("/", 1)[1]
        if short.startswith("data/"):
            es = vals[keys_in_order[int(short[5:])]].element_size()
            data = b"".join(data[i:i + es][::-1] for i in range(0, len(data), es))
        out.writestr("big_endian/" + short, data)
    out.writestr("big_endian/byteorder", "big")
    out.close()
    record("big_endian.pt", vals, "pytorch-zip")


def _write_global(f, module, name):
    f.write(b"c" + module.encode() + b"\n" + name.encode() + b"\n")


class _HandPickler(pickle.Pickler):
    """Pickler whose persistent ids we choose (storages and tensors written by hand)."""

    def __init__(self, f, pid):
        super().__init__(f, protocol=2)
        self._pid = pid

    def persistent_id(self, obj):
        return self._pid(obj)


def write_legacy_storage_view():
    """Legacy stream whose tensor storage is a view (view_key, offset, size) of a root storage, as
    PyTorch < 1.0 wrote it (torch/serialization.py _legacy_load.persistent_load still reads it)."""
    root = torch.arange(12, dtype=torch.float32) * 1.5 - 4.0
    view_off, view_size = 4, 6
    # the tensor as old torch pickled it: _rebuild_tensor_v2(storage=view, offset 1, size (2, 2), stride (2, 1))
    class StorageView:
        pass
    sv = StorageView()

    def pid(obj):
        if obj is sv:
            return ("storage", torch.FloatStorage, "root0", "cpu", 12, ("view0", view_off, view_size))
        return None

    def rebuild_args():
        return (sv, 1, (2, 2), (2, 1), False, collections.OrderedDict())

    class T:
        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2, rebuild_args())

    f = io.BytesIO()
    pickle.dump(0x1950a86a20f9469cfc6c, f, protocol=2)
    pickle.dump(1001, f, protocol=2)
    pickle.dump({"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}, f, protocol=2)
    _HandPickler(f, pid).dump({"v": T()})
    pickle.dump(["root0"], f, protocol=2)
    f.write(struct.pack("<q", 12))
    f.write(root.numpy().tobytes())
    with open(os.path.join(HERE, "legacy_storage_view.pt"), "wb") as out:
        out.write(f.getvalue())
    expect = root[view_off:view_off + view_size][1:5].reshape(2, 2)
    assert torch.equal(torch.load(os.path.join(HERE, "legacy_storage_view.pt"))["v"], expect)
    record("legacy_storage_view.pt", {"v": expect}, "pytorch-legacy")


def write_tar():
    """The tar format of torch.save before 0.4, following the old torch/serialization.py _save:

        tar (PAX format) with members, in this order:
          sys_info  pickle of {'protocol_version': 1001, 'little_endian': True, 'type_sizes': {...}}
          pickle    the object pickled with persistent_id(obj) = str(key) for every tensor
          tensors   pickle(num_tensors), then per tensor: pickle((key, storage_key, tensor_type)),
                    int32 ndim, 4 bytes of padding, ndim int64 sizes, ndim int64 strides,
                    int64 storage_offset                      (tensor._write_metadata)
          storages  pickle(num_storages), then per storage: pickle((key, location, storage_type)),
                    int64 element count and the raw data      (storage._write_file);
                    then pickle(list of views (view_key, root_key, offset, numel))

    torch 1.13 reads this format (torch/serialization.py _legacy_load.legacy_load), which checks the file.
    """
    g = torch.Generator().manual_seed(7)
    w = torch.randn(3, 4, generator=g)
    ints = torch.tensor([5, -6, 7], dtype=torch.int64)
    half = torch.tensor([0.25, -8.0], dtype=torch.float16)
    # tensors: key -> (storage_key, offset, size, stride)
    storages = {100: (torch.FloatStorage, w.reshape(-1)), 101: (torch.LongStorage, ints), 102: (torch.HalfStorage, half)}
    tensors = {
        1: (100, 0, (3, 4), (4, 1)),     # w
        2: (100, 0, (4, 3), (1, 4)),     # w.t(), non-contiguous, same storage
        3: (100, 5, (2,), (3,)),         # w.view(-1)[5::3][:2], offset and stride
        4: (101, 0, (3,), (1,)),
        5: (102, 1, (), ()),             # 0-d scalar at offset 1
    }
    obj = collections.OrderedDict([("w", 1), ("w_t", 2), ("strided", 3), ("ints", 4), ("half_scalar", 5)])

    class Ref:
        def __init__(self, key):
            self.key = key

    refs = collections.OrderedDict((k, Ref(v)) for k, v in obj.items())

    def pid(o):
        return str(o.key) if isinstance(o, Ref) else None

    def member(name, data, tar):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    sys_info = io.BytesIO()
    pickle.dump({"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 8}}, sys_info, protocol=2)
    pk = io.BytesIO()
    _HandPickler(pk, pid).dump(refs)
    tb = io.BytesIO()
    pickle.dump(len(tensors), tb, protocol=2)
    tensor_type = {100: torch.FloatTensor, 101: torch.LongTensor, 102: torch.HalfTensor}
    for key, (skey, off, size, stride) in tensors.items():
        pickle.dump((key, skey, tensor_type[skey]), tb, protocol=2)
        tb.write(struct.pack("<i", len(size)) + b"\0\0\0\0")
        tb.write(struct.pack(f"<{len(size)}q", *size))
        tb.write(struct.pack(f"<{len(stride)}q", *stride))
        tb.write(struct.pack("<q", off))
    sb = io.BytesIO()
    pickle.dump(len(storages), sb, protocol=2)
    for key, (stype, data) in storages.items():
        pickle.dump((key, "cpu", stype), sb, protocol=2)
        sb.write(struct.pack("<q", data.numel()))
        sb.write(data.numpy().tobytes())
    pickle.dump([], sb, protocol=2)

    path = os.path.join(HERE, "tar_format.pt")
    with tarfile.open(path, "w:", format=tarfile.PAX_FORMAT) as tar:
        member("sys_info", sys_info.getvalue(), tar)
        member("pickle", pk.getvalue(), tar)
        member("tensors", tb.getvalue(), tar)
        member("storages", sb.getvalue(), tar)

    loaded = torch.load(path)  # torch's own tar reader checks the layout
    want = collections.OrderedDict([
        ("w", w), ("w_t", w.t()), ("strided", w.reshape(-1)[5::3][:2]), ("ints", ints), ("half_scalar", half[1])])
    for k, v in want.items():
        assert torch.equal(loaded[k], v), k
    record("tar_format.pt", want, "pytorch-tar")


def _evil_reduce_pickle(module, name, arg, stack_global=False):
    f = io.BytesIO()
    if stack_global:
        f.write(b"\x80\x04")
        for s in (module, name):
            b = s.encode()
            f.write(b"\x8c" + bytes([len(b)]) + b)
        f.write(b"\x93")  # STACK_GLOBAL
    else:
        f.write(b"\x80\x02")
        _write_global(f, module, name)
    b = arg.encode()
    f.write(b"X" + struct.pack("<I", len(b)) + b)  # BINUNICODE
    f.write(b"\x85R")  # TUPLE1 REDUCE
    return f


def _zip_with_pickle(path, archive, pkl):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{archive}/data.pkl", pkl)
        z.writestr(f"{archive}/version", "3\n")


def write_evil():
    cmd = f"touch {MARKER}"
    # zip: {'x': os.system(cmd)}
    f = io.BytesIO()
    f.write(b"\x80\x02}")
    f.write(b"X\x01\x00\x00\x00x")
    inner = _evil_reduce_pickle("os", "system", cmd).getvalue()[2:]
    f.write(inner)
    f.write(b"s.")
    _zip_with_pickle(os.path.join(HERE, "evil_os_system.pt"), "archive", f.getvalue())

    # legacy stream: object pickle is builtins.eval("__import__('os').system(cmd)")
    f = io.BytesIO()
    pickle.dump(0x1950a86a20f9469cfc6c, f, protocol=2)
    pickle.dump(1001, f, protocol=2)
    pickle.dump({"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}, f, protocol=2)
    f.write(_evil_reduce_pickle("builtins", "eval", f"__import__('os').system('{cmd}')").getvalue() + b".")
    pickle.dump([], f, protocol=2)
    with open(os.path.join(HERE, "evil_builtins_eval.pt"), "wb") as out:
        out.write(f.getvalue())

    # zip, protocol 4 STACK_GLOBAL posix.system
    _zip_with_pickle(os.path.join(HERE, "evil_posix_system_stack_global.pt"), "weights",
                     _evil_reduce_pickle("posix", "system", cmd, stack_global=True).getvalue() + b".")

    # a valid state dict, plus an ignored metadata entry that calls os.system
    buf = io.BytesIO()
    torch.save({"state_dict": {"w": torch.ones(2)}}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    pkl = src.read("archive/data.pkl")
    assert pkl.endswith(b"s.")  # ... SETITEM STOP on the outer dict
    evil = b"X\x05\x00\x00\x00extra" + _evil_reduce_pickle("os", "system", cmd).getvalue()[2:] + b"s"
    with zipfile.ZipFile(os.path.join(HERE, "evil_hidden_in_metadata.pt"), "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "archive/data.pkl":
                data = pkl[:-1] + evil + b"."
            z.writestr(info.filename, data)


def write_bad_safetensors():
    def st(header, data):
        h = json.dumps(header).encode()
        return struct.pack("<Q", len(h)) + h + data

    data = struct.pack("<4f", 1, 2, 3, 4)
    with open(os.path.join(HERE, "lying_safetensors.safetensors"), "wb") as f:
        f.write(st({"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4000000]}}, data))
    with open(os.path.join(HERE, "overlap_safetensors.safetensors"), "wb") as f:
        f.write(st({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}, data))


def write_short_and_complex():
    # short_storage.pt: the pickle claims size (4, 4) on a storage of 9 elements.
    buf = io.BytesIO()
    torch.save({"w": torch.arange(9, dtype=torch.float32).reshape(3, 3)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    pkl = src.read("archive/data.pkl")
    old = b"K\x03K\x03\x86"  # size (3, 3)
    assert pkl.count(old) == 1
    pkl = pkl.replace(old, b"K\x04K\x04\x86")
    with zipfile.ZipFile(os.path.join(HERE, "short_storage.pt"), "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            z.writestr(info.filename, pkl if info.filename.endswith("data.pkl") else src.read(info.filename))
    save({"c": torch.tensor([1 + 2j, 3 - 4j], dtype=torch.complex64)}, "complex_storage.pt")
    # huge_numel.pt: the persistent id says the storage has 2**40 elements (the entry holds 9).
    pkl = src.read("archive/data.pkl")
    old_numel = b"K\tt"  # BININT1 9, TUPLE (end of the persistent id)
    assert pkl.count(old_numel) == 1
    pkl = pkl.replace(old_numel, b"\x8a\x06" + (2**40).to_bytes(6, "little") + b"t")
    with zipfile.ZipFile(os.path.join(HERE, "huge_numel.pt"), "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            z.writestr(info.filename, pkl if info.filename.endswith("data.pkl") else src.read(info.filename))


def write_real_digests():
    import hashlib
    shared = os.path.normpath(os.path.join(HERE, "..", "..", "..", "..", "shared", "testdata", "checkpoints"))
    if not os.path.isdir(shared):
        print("shared test data not found at", shared, "- real_checkpoint_digests.json left as it is")
        return
    out = {}
    st_dtypes = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64", "I64": "int64",
                 "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}
    for rel in ("mnist-cnn/mnist.pt", "tinyvgg/05_going_modular_script_mode_tinyvgg_model.pth"):
        sd = torch.load(os.path.join(shared, rel), map_location="cpu")
        out[rel] = {k: {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                        "sha256": hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()} for k, t in sd.items()}
    rel = "mnist-cnn/mnist.safetensors"
    b = open(os.path.join(shared, rel), "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    out[rel] = {k: {"dtype": st_dtypes[v["dtype"]], "shape": v["shape"],
                    "sha256": hashlib.sha256(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]).hexdigest()}
                for k, v in header.items() if k != "__metadata__"}
    with open(os.path.join(HERE, "real_checkpoint_digests.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
