"""The shared helpers: setol_theory.util and setol_theory.report.pyplot."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from setol_theory.util import json_default, nan_to_none, real_number, write_json


@pytest.mark.parametrize("x, want", [(3, 3.0), (2.5, 2.5), (np.float32(0.5), 0.5),
                                     (np.int64(7), 7.0), (np.array(1.25), 1.25),
                                     (math.inf, math.inf)])
def test_real_number_accepts(x, want):
    got = real_number(x, "x")
    assert type(got) is float and got == want


def test_real_number_nan_passes():
    assert math.isnan(real_number(math.nan, "x"))


@pytest.mark.parametrize("x", [True, np.bool_(False), "1", 1j, [1.0], np.ones(2), None,
                               np.array(True), np.array(1 + 2j)])
def test_real_number_refuses(x):
    with pytest.raises(TypeError, match=r"^T must be a real number, got .* of type "):
        real_number(x, "T")


def test_nan_to_none():
    obj = {"a": [1.0, math.nan, (math.inf, -math.inf)], "b": np.float64("nan"),
           "c": np.int64(3), "d": "s", "e": None}
    assert nan_to_none(obj) == {"a": [1.0, None, [None, None]], "b": None, "c": 3,
                                "d": "s", "e": None}
    assert nan_to_none(obj, inf_strings=True)["a"] == [1.0, None, ["inf", "-inf"]]
    assert type(nan_to_none(np.int64(3))) is int


def test_json_default():
    assert json_default(np.arange(3)) == [0, 1, 2]
    assert json_default(np.float32(0.5)) == 0.5 and json_default(np.bool_(True)) is True
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        json_default(object())


def test_write_json(tmp_path):
    p = tmp_path / "sub" / "out.json"
    write_json(p, {"x": np.arange(2), "p": tmp_path, "n": 1.5})
    assert json.loads(p.read_text()) == {"x": [0, 1], "p": str(tmp_path), "n": 1.5}
    assert not (tmp_path / "sub" / "out.json.tmp").exists()
    write_json(p, {"x": np.float32(2.0)}, default=str)
    assert json.loads(p.read_text()) == {"x": "2.0"}


def test_report_pyplot():
    pytest.importorskip("matplotlib")
    from setol_theory.report import pyplot

    plt = pyplot()
    assert plt.get_backend().lower() in ("agg", "pdf", "svg", "cairo")
    plt.close(plt.figure())
