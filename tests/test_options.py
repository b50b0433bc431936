"""The options objects and the one pipeline: declared once, validated once, the same on every path.

- every CLI flag's default is the option's default (no drift between the API and the CLI);
- ``to_dict``/``token`` round-trip and identify the options (resume);
- a bad value raises ``OptionError`` naming the option (the CLI: the flag);
- the pipeline computes each layer's detX edge once, and the streamed quality equals
  ``quality_report`` on kept eigenvalues;
- every name that moved in 0.2 still resolves from its old path, with a DeprecationWarning.
"""

from __future__ import annotations

import dataclasses
import importlib
import warnings

import numpy as np
import pytest

from setol_theory import AnalysisOptions, QualityOptions, analyze, quality_report
from setol_theory.cli import build_parser
from setol_theory.options import OptionError, from_args


def _layers(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"a.weight": rng.standard_t(3.0, size=(300, 120)),
            "b.weight": rng.normal(size=(200, 60)),
            "c.weight": rng.standard_t(2.5, size=(150, 80))}


def _sub(argv: list[str]):
    return build_parser().parse_args(argv)


@pytest.mark.parametrize("argv, cls, kw", [
    (["analyze"], AnalysisOptions, {}),
    (["analyze-many", "x", "--out", "o.jsonl"], AnalysisOptions, {}),
    (["quality"], QualityOptions, {}),
    (["quality"], AnalysisOptions, {"normalization": "N", "traps": False}),
])
def test_cli_defaults_are_the_options_defaults(argv, cls, kw):
    """A flag not given takes the option's default: one default per setting."""
    got = from_args(cls, _sub(argv), **kw)
    assert got == dataclasses.replace(cls(), **kw)


def test_cli_flags_map_to_fields():
    args = _sub(["analyze", "--min-evals", "4", "--max-evals", "50", "--no-traps",
                 "--layers", "fc", "--layers", "attn", "--kinds", "linear", "--seed", "3",
                 "--normalization", "none", "--min-tail", "7", "--trap-scale", "fit"])
    o = from_args(AnalysisOptions, args)
    assert o == AnalysisOptions(min_evals=4, max_evals=50, traps=False, layers=("fc", "attn"),
                                kinds=("linear",), seed=3, normalization="none", min_tail=7,
                                trap_scale="fit")


def test_to_dict_round_trip_and_token():
    o = AnalysisOptions(layers="fc", min_tail=5)
    assert o.layers == ("fc",)
    assert AnalysisOptions(**o.to_dict()) == o
    assert o.token() == AnalysisOptions(**o.to_dict()).token()
    assert o.token() != o.replace(seed=1).token()
    q = QualityOptions(ecs="0.5", models="imp, tpl")
    assert q.ecs == 0.5 and q.models == ("imp", "tpl")
    assert QualityOptions(**q.to_dict()) == q
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.seed = 2  # type: ignore[misc]


@pytest.mark.parametrize("kw, match", [
    ({"min_tail": 1}, "min_tail must be an integer >= 2"),
    ({"min_evals": 20, "max_evals": 10}, r"max_evals \(10\) must be >= min_evals \(20\)"),
    ({"normalization": "sum"}, "normalization must be one of N, none"),
    ({"device": "tpu"}, "device must be one of"),
    ({"layers": "["}, "invalid regular expression"),
    ({"kinds": "conv9d"}, "unknown layer kind"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"traps": "yes"}, "traps must be True or False"),
])
def test_analysis_options_refuse_bad_values(kw, match):
    with pytest.raises(OptionError, match=match):
        AnalysisOptions(**kw)


@pytest.mark.parametrize("kw, match", [
    ({"ecs": "bogus"}, "ecs must be xmin, detx or a positive number"),
    ({"ecs": -1.0}, "ecs as a number must be a positive"),
    ({"models": "imp,nope"}, "unknown model"),
    ({"K": 0}, "K must be an integer >= 1"),
    ({"scale": "sum"}, "scale must be one of"),
])
def test_quality_options_refuse_bad_values(kw, match):
    with pytest.raises(OptionError, match=match):
        QualityOptions(**kw)


def test_option_error_names_the_flag_in_the_cli():
    with pytest.raises(OptionError, match=r"^--max-evals \(3\) must be >= --min-evals \(10\)"):
        from_args(AnalysisOptions, _sub(["analyze", "--max-evals", "3"]))


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match="unknown analysis option"):
        analyze(_layers(), min_tial=5)


def test_cpu_device_is_deprecated_and_means_numpy():
    with pytest.warns(DeprecationWarning, match="ambiguous"):
        assert AnalysisOptions(device="cpu").device == "numpy"


def test_detx_computed_once_per_layer(monkeypatch):
    """One TraceLog walk per analysed layer feeds both delta_lambda_min and the ECS."""
    from setol_theory.htsr import _detx, _metrics
    from setol_theory.quality import _ecs

    calls = []
    real = _detx.detx_lambda_min

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(_metrics, "detx_lambda_min", counting)
    monkeypatch.setattr(_ecs, "detx_lambda_min", counting)
    res = analyze(_layers(), AnalysisOptions(traps=False), quality=QualityOptions())
    n_ok = len(res.analysed)
    assert n_ok == 3 and len(calls) == n_ok
    for m, r in zip(res.layers, res.quality.layers, strict=True):
        e = r.quality.ecs
        assert e.lambda_min_detx == m.detx_lambda_min
        if e.delta_lambda_min is not None:
            assert e.delta_lambda_min == m.delta_lambda_min
    # another index rule is another quantity: computed for the ECS, not reused
    calls.clear()
    analyze(_layers(), AnalysisOptions(traps=False), quality=QualityOptions(detx_rule="closest"))
    assert len(calls) == 2 * n_ok


def test_streamed_quality_equals_quality_report_on_kept_evals():
    opts = AnalysisOptions(traps=False, min_tail=5)
    q = QualityOptions(ecs="xmin", models=("imp", "tpl", "emp"))
    streamed = analyze(_layers(1), opts, quality=q)
    assert not streamed.evals  # streaming: the eigenvalues were not kept
    kept = analyze(_layers(1), opts, keep_evals=True)
    later = quality_report(kept, q)
    assert streamed.quality.to_json_dict() == later.to_json_dict()
    assert later.settings["htsr"] == kept.settings


def test_analyze_many_and_cluster_match_the_serial_pipeline(tmp_path):
    from setol_theory.distributed import analyze_many, analyze_on_cluster

    np.savez(tmp_path / "m.npz", **_layers(2))
    opts = AnalysisOptions(min_tail=5, seed=4)
    ref = analyze(tmp_path / "m.npz", opts)
    one = analyze_on_cluster(tmp_path / "m.npz", "serial", opts)
    many = analyze_many(tmp_path, opts, scheduler="serial")
    from setol_theory.util import nan_to_none

    want = [m.to_dict() for m in ref.layers]
    # NaN != NaN: compare with NaN as None (num_spikes is NaN where the bulk is not MP-like)
    assert nan_to_none([m.to_dict() for m in one.layers]) == nan_to_none(want)

    assert [r["layer"] for r in many.records] == [w["name"] for w in want]
    rows = [{k: v for k, v in r.items() if k in want[0] and k != "name"} for r in many.records]
    assert rows == [{k: v for k, v in nan_to_none(w).items() if k != "name"} for w in want]


def _moved_names() -> list[tuple[str, str]]:
    out = []
    for old in ("spectra", "backend", "powerlaw", "densities", "free", "hciz", "scale",
                "plotting", "htsr", "quality", "verify"):
        mod = importlib.import_module(f"setol_theory.{old}")
        out += [(old, n) for n in sorted(mod.__getattr__.moved)]
    return out


@pytest.mark.parametrize("old, name", _moved_names())
def test_moved_name_still_resolves_with_a_deprecation_warning(old, name):
    mod = importlib.import_module(f"setol_theory.{old}")
    with pytest.warns(DeprecationWarning, match=rf"setol_theory\.{old}\.{name} moved to"):
        obj = getattr(mod, name)
    assert obj is not None


def test_old_analyze_layers_yields_pairs():
    """htsr.analyze_layers (0.1) keeps its (metrics, evals) pairs and keyword options."""
    from setol_theory.io import iter_layers

    with pytest.warns(DeprecationWarning):
        from setol_theory.htsr import analyze_layers
    pairs = list(analyze_layers(iter_layers(_layers()), min_evals=2, traps=False))
    assert [m.status for m, _ in pairs] == ["ok"] * 3
    assert all(ev.shape == (m.M,) for m, ev in pairs)


def test_dir_lists_real_and_moved_names():
    import setol_theory.htsr as htsr

    assert {"esd_metrics", "analyze"} <= set(dir(htsr))


def test_new_paths_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        from setol_theory.fit import fit_powerlaw  # noqa: F401
        from setol_theory.io import iter_layers  # noqa: F401
        from setol_theory.pipeline import analyze as a  # noqa: F401


def test_results_file_of_0_1_resumes(tmp_path):
    """A results header in the 0.1 layout (fit/eig nested, no precision) resumes in 0.2."""
    import json

    from setol_theory.distributed import analyze_many

    ck = tmp_path / "ck"
    ck.mkdir()
    np.savez(ck / "m.npz", **_layers(3))
    out = tmp_path / "t.jsonl"
    first = analyze_many(ck, AnalysisOptions(traps=False), scheduler="serial", out=out)
    lines = out.read_text().splitlines()
    head = json.loads(lines[0])
    s = head["settings"]
    old = {k: v for k, v in s.items() if k not in ("min_tail", "method", "precision")}
    old.update({"fit": {"min_tail": s["min_tail"]}, "method": s["method"]})
    out.write_text("\n".join([json.dumps({**head, "settings": old}), *lines[1:]]) + "\n")
    again = analyze_many(ck, AnalysisOptions(traps=False), scheduler="serial", out=out)
    assert again.computed == 0 and again.resumed == first.computed == 3
    with pytest.raises(ValueError, match=r"min_tail 10 -> 5"):
        analyze_many(ck, AnalysisOptions(traps=False, min_tail=5), scheduler="serial", out=out)


def test_conflicting_legacy_and_new_keyword_is_refused():
    with pytest.warns(DeprecationWarning), pytest.raises(OptionError, match="given twice"):
        analyze(_layers(), min_tail=5, fit_kwargs={"min_tail": 10})


def test_numpy_integers_become_plain_ints():
    import json

    o = AnalysisOptions(min_evals=np.int64(5), seed=np.int32(2))
    assert type(o.min_evals) is int and type(o.seed) is int
    json.dumps(o.to_dict())
    assert AnalysisOptions(seed=None).seed is None  # unseeded, as in 0.1


@pytest.mark.parametrize("kw, exc", [
    ({"ecs": True}, OptionError),
    ({"models": ["imp", 3]}, OptionError),
])
def test_quality_options_types(kw, exc):
    with pytest.raises(exc):
        QualityOptions(**kw)


def test_quality_argument_must_be_quality_options():
    with pytest.raises(TypeError, match="quality must be a QualityOptions"):
        analyze(_layers(), quality=AnalysisOptions())


def test_star_import_from_an_old_module_warns_and_works():
    ns: dict = {}
    with pytest.warns(DeprecationWarning, match="setol_theory.densities"):
        exec("from setol_theory.densities import *", ns)
    assert ns["MarchenkoPastur"].__module__.startswith("setol_theory.rmt")


def test_deprecation_warning_names_the_callers_line():
    with pytest.warns(DeprecationWarning) as rec:
        AnalysisOptions(device="cpu")
    assert rec[0].filename == __file__
    with pytest.warns(DeprecationWarning) as rec:
        analyze(_layers(), traps=False, fit_kwargs={"min_tail": 5})
    assert rec[0].filename == __file__


def test_old_package_name_warns_once_on_from_import():
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        from setol_theory.htsr import analyze as _a  # noqa: F401
    assert len([w for w in rec if issubclass(w.category, DeprecationWarning)]) == 1
