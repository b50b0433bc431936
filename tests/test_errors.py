"""One error hierarchy: every library exception is a SetolError, every warning a SetolWarning,
and each keeps the builtin base it had, so existing ``except ValueError`` handlers still work."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import setol_theory.errors as errors
from setol_theory.errors import SetolError, SetolWarning

# name -> the builtin it subclassed before the hierarchy (and still does)
BUILTIN_BASE = {
    "DeviceError": ValueError,
    "DeviceFallbackWarning": UserWarning,
    "PowerLawBoundWarning": UserWarning,
    "QualityError": ValueError,
    "NotApplicable": ValueError,
    "ECSError": ValueError,
    "LayerError": ValueError,
    "UnreadableCheckpoint": ValueError,
    "CheckpointChanged": ValueError,
    "SkippedPathWarning": UserWarning,
    "CLIError": Exception,
    "OptionError": ValueError,
    "MissingExtra": ImportError,
}

# the public package each class was defined in before (and is still exported from)
HOMES = {
    "DeviceError": "setol_theory.linalg",
    "DeviceFallbackWarning": "setol_theory.linalg",
    "PowerLawBoundWarning": "setol_theory.fit",
    "QualityError": "setol_theory.quality",
    "NotApplicable": "setol_theory.quality",
    "ECSError": "setol_theory.quality",
    "LayerError": "setol_theory.pipeline",
    "UnreadableCheckpoint": "setol_theory.distributed",
    "CheckpointChanged": "setol_theory.distributed",
    "SkippedPathWarning": "setol_theory.distributed",
    "CLIError": "setol_theory.cli._common",
    "OptionError": "setol_theory.options",
    "MissingExtra": "setol_theory.util",
}


def test_all_lists_every_class():
    assert set(errors.__all__) == {"SetolError", "SetolWarning", *BUILTIN_BASE}
    assert set(HOMES) == set(BUILTIN_BASE)


@pytest.mark.parametrize("name", sorted(BUILTIN_BASE))
def test_class_has_setol_and_builtin_base(name):
    cls = getattr(errors, name)
    assert issubclass(cls, BUILTIN_BASE[name])
    if issubclass(cls, Warning):
        assert issubclass(cls, SetolWarning) and not issubclass(cls, SetolError)
    else:
        assert issubclass(cls, SetolError) and not issubclass(cls, Warning)
    assert cls.__doc__ and ("Raised" in cls.__doc__ or "Emitted" in cls.__doc__)


def test_bases():
    assert SetolError.__bases__ == (Exception,)
    assert SetolWarning.__bases__ == (UserWarning,)
    assert issubclass(errors.NotApplicable, errors.QualityError)


@pytest.mark.parametrize("name", sorted(HOMES))
def test_old_homes_export_the_same_class(name):
    import importlib

    mod = importlib.import_module(HOMES[name])
    assert getattr(mod, name) is getattr(errors, name)
    if hasattr(mod, "__all__") and not HOMES[name].split(".")[-1].startswith("_"):
        assert name in mod.__all__


def _raises(cls, fn, *args, **kwargs):
    with pytest.raises(cls) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, SetolError)
    assert isinstance(info.value, BUILTIN_BASE[cls.__name__])
    return info.value


def _warns(cls, fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    hits = [w for w in rec if issubclass(w.category, cls)]
    assert hits, [str(w.message) for w in rec]
    assert issubclass(hits[0].category, SetolWarning)
    return out


# ---- one raise site per class --------------------------------------------------------------


def test_device_error():
    from setol_theory.linalg import resolve_backend

    _raises(errors.DeviceError, resolve_backend, "cuda:x")
    try:  # an `except ValueError` written before the hierarchy still catches it
        resolve_backend("cuda:x")
    except ValueError:
        pass


def test_device_fallback_warning(monkeypatch):
    pytest.importorskip("torch")
    import setol_theory.linalg._backend as backend

    monkeypatch.setattr(backend, "cuda_available", lambda: False)
    b = _warns(errors.DeviceFallbackWarning, backend.resolve_backend, "auto")
    assert b.kind == "numpy"


def test_power_law_bound_warning():
    from setol_theory.fit import fit_powerlaw

    u = np.random.default_rng(0).random(2000)
    x = (1.0 - u) ** (-1.0 / 3.5)  # Pareto with alpha = 4.5, outside alpha_range
    fit = _warns(errors.PowerLawBoundWarning, fit_powerlaw, x, alpha_range=(1.0, 4.0))
    assert fit.bound_hit


def test_quality_error_and_not_applicable():
    from setol_theory.quality import levy_wigner_b, q2_bulk_spikes

    _raises(errors.QualityError, q2_bulk_spikes, [])
    e = _raises(errors.NotApplicable, levy_wigner_b, 0.5, 10)
    assert isinstance(e, errors.QualityError)


def test_ecs_error():
    from setol_theory.quality import select_ecs

    _raises(errors.ECSError, select_ecs, np.linspace(1, 2, 50), 1.95)


def test_layer_error():
    from setol_theory.pipeline import analyze

    rng = np.random.default_rng(0)
    bad = rng.normal(size=(300, 100))
    bad[3, 4] = np.nan
    _raises(errors.LayerError, analyze, {"b.weight": bad}, traps=False, on_error="raise")


def test_unreadable_checkpoint_and_checkpoint_changed(tmp_path):
    from setol_theory.distributed import list_layers
    from setol_theory.options import AnalysisOptions as LayerOptions

    f = tmp_path / "junk.safetensors"
    f.write_bytes(b"not a checkpoint at all")
    _raises(errors.UnreadableCheckpoint, list_layers, str(f), LayerOptions())
    _raises(errors.CheckpointChanged, list_layers, str(f), LayerOptions(), "0:0")


def test_skipped_path_warning(tmp_path):
    from setol_theory.distributed import find_checkpoints

    np.save(tmp_path / "w.npy", np.ones((20, 10), np.float32))
    (tmp_path / "gone.safetensors").symlink_to(tmp_path / "nowhere.safetensors")
    _warns(errors.SkippedPathWarning, find_checkpoints, [str(tmp_path)])


def test_cli_error(tmp_path):
    from setol_theory.cli._common import _resolve_source

    _raises(errors.CLIError, _resolve_source, str(tmp_path / "missing.safetensors"))
