"""The engine interface of the fitting road: one registry, ``check`` before any work, usage errors raised once."""

from __future__ import annotations

import pytest

import metaquant as mq
from metaquant import fitting
from metaquant.errors import UsageError
from metaquant.spec import ENGINE_POLICIES, FitSpec, RunSettings


@pytest.mark.parametrize("name", sorted(ENGINE_POLICIES))
def test_every_engine_has_one_adapter_with_its_policies(name):
    spec = FitSpec("accuracy", method={"frequentist": "reml"}.get(name, name))
    eng = fitting.engine_for(spec)
    assert eng.name == name == spec.engine
    assert eng.policies is ENGINE_POLICIES[name]
    assert callable(eng.check) and callable(eng.fit)


def test_check_runs_before_any_work(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("rows were selected before the spec was checked")

    monkeypatch.setattr(fitting, "property_rows", boom)
    with pytest.raises(UsageError, match="fitted by REML or ML"):
        fitting.fit_table(mq.effect_table("ssm2025"), FitSpec("accuracy", method="dl", model="multilevel"))


def test_fit_all_raises_a_usage_error_once(monkeypatch):
    calls = []
    real = fitting.fit_or_reason
    monkeypatch.setattr(fitting, "fit_or_reason", lambda *a, **k: calls.append(a) or real(*a, **k))
    with pytest.raises(UsageError, match="fitted by REML or ML"):
        mq.fit_all("ssm2025", method="dl", model="multilevel")
    assert calls == []  # checked before the loop over properties


def test_fit_or_reason_turns_only_data_errors_into_not_pooled():
    tab = mq.effect_table("ssm2025")
    with pytest.raises(UsageError):
        fitting.fit_or_reason(tab, FitSpec("accuracy", method="dl", model="multilevel"))
    res = fitting.fit_or_reason(tab, FitSpec("accuracy", method="reml", variance_policy="refuse"))
    assert isinstance(res, fitting.NotPooled) and "no sampling variance" in res.reason


def test_classical_predictions_come_from_the_road():
    tab = mq.effect_table("ssm2025")
    res = fitting.fit_table(tab, FitSpec("accuracy", method="reml", variance_policy="drop", moderators=["bits"]),
                            RunSettings(profile=False))
    known = tab[(tab["property"] == "accuracy") & tab["vi_known"]]
    assert sorted(p["level"] for p in res.predictions) == sorted(known["bits"].unique())
    assert sum(p["k"] for p in res.predictions) == res.rma.k


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"method": "reml", "variance_policy": "model"}, "cannot honour the variance policy 'model'"),
        ({"method": "exact", "moderators": ["bits"]}, "exact engine fits models without moderators"),
        ({"method": "bma", "moderators": ["bits"]}, "bma engine fits models without moderators"),
        ({"method": "exact", "model": "multilevel"}, "exact engine fits the random-effects model"),
        ({"method": "exact", "rho": 0.5}, "exact engine takes independent sampling errors"),
        ({"method": "dl", "rho": 0.5}, "REML or ML"),
        ({"method": "bayes", "rho": -0.3}, "rho >= 0"),
        ({"method": "bayes", "robust": "cr2"}, "cluster-robust inference is for the classical engine"),
        ({"method": "exact", "moderators": ["bits"], "wald": ["bits"]}, "Wald tests are for the classical engine"),
    ],
)
def test_engine_rules_live_in_engine_check_not_in_the_spec(kw, needle):
    spec = FitSpec("accuracy", **kw)  # a well-formed specification ...
    with pytest.raises(UsageError, match=needle):
        fitting.check(spec)  # ... that its engine cannot fit, refused before any work


def test_a_direct_bayes_call_is_refused_by_the_same_rule():
    from metaquant import bayes

    acc = mq.effect_table("ssm2025").query("property == 'accuracy'")
    with pytest.raises(UsageError, match="exact engine fits models without moderators"):
        bayes.fit(acc, engine="exact", moderators=["bits"])
    with pytest.raises(UsageError, match="exact engine fits models without moderators"):
        fitting.check(FitSpec("accuracy", method="exact", moderators=["bits"]))


def test_ssm_takes_the_road_and_gives_what_synthesize_gives():
    for data, rules in (("ssm2025", None), ("ssm2026", "ssm2026")):
        res = mq.fit(data, "accuracy", method="ssm", rules=rules)
        ref = mq.synthesize(data, "accuracy", **({"rules": rules} if rules else {}))
        assert res.engine == "ssm" and res.to_dict() == ref.to_dict()
        assert res.spec == FitSpec("accuracy", method="ssm", rules=rules) and len(res.rows) == res.n_models
    with pytest.raises(UsageError, match="SSM reads no sampling variance"):
        mq.fit("ssm2025", "accuracy", method="ssm", variance_policy="drop")
    with pytest.raises(UsageError, match="SSM engine takes no moderators"):
        mq.fit("ssm2025", "accuracy", method="ssm", moderators=["bits"])


@pytest.mark.parametrize("kw", [dict(method="reml", variance_policy="drop"), dict(method="exact"),
                                dict(method="bayes", draws=30, tune=30, chains=1), dict(method="ssm")])
def test_every_result_carries_its_spec_and_the_rows_it_pooled(kw):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mq.fit("ssm2025", "accuracy", **kw)
    k = res.n_models if res.engine == "ssm" else res.to_dict()["k"]
    assert isinstance(res.spec, FitSpec) and res.spec.method == kw["method"] and len(res.rows) == k
