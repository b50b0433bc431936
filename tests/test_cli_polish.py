"""The command line as a newcomer meets it: no abbreviated options, --version, negative ranges,
typo'd options, one-line messages without numpy reprs, output paths, --quiet, the table layout,
a plain log when the output is not a terminal."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from conftest import write_safetensors

from setol_theory.cli import main
from setol_theory.cli._common import Column, elide, format_table
from setol_theory.cli._main import _all_parsers, _join_negative_values, build_parser


@pytest.fixture
def small_model(tmp_path):
    rng = np.random.default_rng(0)
    return write_safetensors(tmp_path / "m.safetensors", {
        "fc1.weight": rng.standard_t(3, size=(300, 120)).astype(np.float32),
        "fc2.weight": rng.normal(size=(120, 400)).astype(np.float32),
    })


def _usage_error(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_no_parser_accepts_abbreviations(capsys, small_model):
    parsers = _all_parsers(build_parser())
    assert len(parsers) >= 10 and all(not p.allow_abbrev for p in parsers)
    msg = _usage_error(capsys, ["analyze", "--layer", "fc", str(small_model)])
    assert msg == "setol analyze: error: unknown option --layer (did you mean --layers?)"


def test_version(capsys):
    from setol_theory import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"setol {__version__} (Python ") and "torch " in out


def test_negative_range_is_a_value_not_an_option(capsys):
    p = build_parser()
    assert _join_negative_values(p, ["quality", "--curve", "imp", "--alpha", "-1:2:3"]) == [
        "quality", "--curve", "imp", "--alpha=-1:2:3"]
    # a flag without a value and a positional are left alone
    assert _join_negative_values(p, ["analyze", "--quiet", "-x"]) == ["analyze", "--quiet", "-x"]
    assert main(["quality", "--curve", "imp", "--alpha", "-1:2:3", "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    # the range reached the curve (no "expected one argument"), and no numpy repr
    assert err == ("setol quality: error: --curve imp: family 'imp' needs alpha > 0 "
                   "(kappa = alpha/2), got -1.0")


def test_typo_option_does_not_take_the_path(capsys, small_model):
    msg = _usage_error(capsys, ["analyze", "--layerz", "fc", str(small_model)])
    assert msg == "setol analyze: error: unknown option --layerz (did you mean --layers?)"
    assert str(small_model) not in msg


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".npz", ".npy"])
def test_empty_file_one_message(tmp_path, capsys, suffix):
    f = tmp_path / f"empty{suffix}"
    f.touch()
    assert main(["analyze", str(f)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"setol analyze: error: {f}: empty file (0 bytes)"
    assert err[-1].count(str(f)) == 1


def test_pickle_refusal_is_short_and_without_torch_warning(tmp_path, capsys):
    torch = pytest.importorskip("torch", reason="writing a .pt file needs torch")
    import argparse

    f = tmp_path / "ckpt.pt"
    torch.save({"w": torch.ones(4, 4), "args": argparse.Namespace(lr=0.1)}, f)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["analyze", str(f), "--quiet"]) == 1
    assert not [w for w in caught if issubclass(w.category, UserWarning)], caught
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and len(err[0]) < 250, err
    assert err[0] == (f"setol analyze: error: {f}: refused: holds Python objects "
                      "(argparse.Namespace) besides tensors, which weights_only=True does not "
                      "load; convert it to .safetensors where you trust it")


def test_output_into_a_missing_directory_is_an_error(tmp_path, small_model, capsys):
    out = tmp_path / "missing" / "dir" / "x.json"
    assert main(["analyze", str(small_model), "--json", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"setol analyze: error: --json {out}: directory {out.parent} does not "
                   "exist")
    assert not (tmp_path / "missing").exists()


def test_quiet_still_gives_skip_reasons(tmp_path, capsys):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(200, 80))
    bad = w.copy()
    bad[0, 0] = np.inf
    f = write_safetensors(tmp_path / "n.safetensors", {"ok.weight": w, "inf.weight": bad})
    assert main(["analyze", str(f), "--quiet", "--no-traps", "--keep-going"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("setol analyze: inf.weight: skipped: ") and "Inf" in line


def test_elide_keeps_both_ends():
    name = "model.layers.27.self_attn.q_proj.weight"
    for width in range(2, len(name) + 3):
        cut = elide(name, width)
        assert len(cut) == min(width, len(name))
        if width < len(name):
            head, tail = cut.split("…")
            assert name.startswith(head) and name.endswith(tail)
            assert abs(len(head) - len(tail)) <= 1
    assert elide(name, 24) == "model.layer…_proj.weight"


def _rows():
    long = "model.layers.27.self_attention.query_key_value.weight"
    return [
        {"name": "a", "status": "ok", "N": 10, "x": 1.5, "y": -12.345678},
        {"name": long, "status": "ok", "N": 123456, "x": 1234567.0, "y": float("nan")},
        {"name": "b", "status": "skipped", "reason": "int8 weights"},
        {"name": "c", "status": "ok", "N": 7, "x": None, "y": 1e-300},
    ]


def test_table_layout_fixed_columns_and_width():
    cols = [Column("N", "N", 6, "d"), Column("x", "x", 7, ".3f"), Column("y", "y", 7, ".3f")]
    for width in (50, 60, None):
        text = format_table(_rows(), cols, width=width)
        lines = text.splitlines()
        ok = [ln for ln in lines[2:] if "skipped:" not in ln]
        if width is not None:
            assert all(len(ln) <= width for ln in [lines[0], *ok]), text
        else:
            assert _rows()[1]["name"] in text  # a file or a pipe: names whole
        # every number ends at its column's right edge, whatever its size
        ends = {len(ln) for ln in ok}
        assert len(ends) == 1, text
        assert "skipped: int8 weights" in text
    assert "-12.346" in text and "1.23e+6" in text and "-" in text
    # narrower than the minimal name column + the numbers: names at MIN_NAME_WIDTH, nothing
    # shifts, the lines run past the width
    from setol_theory.cli._common import MIN_NAME_WIDTH

    lines = format_table(_rows(), cols, width=30).splitlines()
    assert len({len(ln) for ln in lines[2:] if "skipped" not in ln}) == 1
    assert lines[3].index(" ") == MIN_NAME_WIDTH


def test_table_column_spec_is_one_line_per_column():
    from setol_theory.cli._common import LAYER_COLUMNS

    rows = [{"name": "fc", "status": "ok", **{c.key: 1.0 for c in LAYER_COLUMNS}}]
    rows[0]["warning"] = ""
    extra = [*LAYER_COLUMNS[:-1], Column("new_metric", "new", 6, ".2f"), LAYER_COLUMNS[-1]]
    rows[0]["new_metric"] = 0.25
    head = format_table(rows, extra, width=None).splitlines()[0].split()
    assert head[head.index("new") - 1] == LAYER_COLUMNS[-2].head and head[-1] == "warning"


def test_plain_log_when_not_a_terminal(small_model, capsys):
    # capsys' streams are not terminals: no progress bar, no carriage returns
    assert main(["analyze", str(small_model), "--no-traps"]) == 0
    out, err = capsys.readouterr()
    assert "\r" not in out + err
    assert "layers:" not in err and "it/s" not in err and "layer/s" not in err
    assert re.match(r"^layer\s+N\s+M\s+alpha", out)
