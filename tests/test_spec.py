"""The fit specification and the one variance policy, reaching every engine."""

from __future__ import annotations

import numpy as np
import pytest

import metaquant as mq
from metaquant import fitting
from metaquant.classical import rma
from metaquant.errors import InputError, UsageError
from metaquant.spec import (
    DEFAULT_SEED,
    ENGINE_POLICIES,
    FitSpec,
    RunSettings,
    apply_variance_policy,
    split_options,
)


@pytest.fixture(scope="module")
def tab():
    return mq.api.effect_table("ssm2025")


@pytest.fixture(scope="module")
def acc(tab):
    return mq.for_property(tab, "accuracy")


# ---------------------------------------------------------------- FitSpec


def test_spec_normalises_and_derives_the_engine_and_policy():
    s = FitSpec("Accuracy ", method="REML", moderators="bits")
    assert (s.property, s.method, s.engine, s.policy, s.moderators) == ("accuracy", "reml", "frequentist", "refuse",
                                                                         ("bits",))
    assert FitSpec("accuracy").policy == "model" and FitSpec("accuracy", method="exact").engine == "exact"
    assert FitSpec("accuracy", method="fe").is_fixed and FitSpec("accuracy", method="ee").is_fixed
    assert not FitSpec("accuracy", method="reml").is_fixed


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"method": "xyz"}, "unknown method 'xyz'"),
        ({"method": 3}, "method must be a string"),
        ({"model": "deep"}, "unknown model"),
        ({"variance_policy": "guess"}, "unknown variance policy"),
        ({"level": 120}, "level must be a percentage"),
        ({"threshold_scale": -1}, "threshold_scale must be a positive number"),
        ({"moderators": [3]}, "is not a column name"),
    ],
)
def test_spec_refuses_bad_fields_naming_them(kw, needle):
    with pytest.raises(UsageError, match=needle.replace("(", r"\(")):
        FitSpec("accuracy", **kw)


def test_unknown_property_is_a_clear_error():
    with pytest.raises(InputError, match="unknown property"):
        FitSpec("happiness")


def test_run_settings_validate_and_share_one_default_seed():
    assert RunSettings().seed == DEFAULT_SEED == mq.api.DEFAULT_SEED
    for kw in ({"draws": 0}, {"chains": "4"}, {"seed": -1}, {"sampler": "gibbs"}, {"jobs": True}):
        with pytest.raises(UsageError):
            RunSettings(**kw)


def test_split_options_accepts_the_old_names_and_refuses_unknown_ones():
    spec, run = split_options("accuracy", method="reml", missing_vi="error", draws=10)
    assert spec.variance_policy == "refuse" and run.draws == 10
    spec, _ = split_options("accuracy", unknown_vi="drop")
    assert spec.variance_policy == "drop"
    with pytest.raises(UsageError, match="unknown option 'drawz'"):
        split_options("accuracy", drawz=10)
    base = FitSpec("accuracy", method="exact")
    spec, _ = split_options(None, spec=base, variance_policy="drop")
    assert (spec.method, spec.variance_policy) == ("exact", "drop")


def test_the_classical_engine_nests_rows_of_one_study_unless_told_not_to(acc):
    """``model="auto"``: rows of one study are nested (rma.mv), as the Bayesian engine does."""
    from metaquant.classical.engine import multilevel_table

    auto = fitting.fit_table(acc, FitSpec("accuracy", method="reml", variance_policy="drop"))
    ref, _ = multilevel_table(apply_variance_policy(acc, "drop", engine="frequentist")[0])
    assert auto.model == "multilevel" and auto.rma.estimate == pytest.approx(ref.estimate, rel=1e-12)
    uni = fitting.fit_table(acc, FitSpec("accuracy", method="reml", variance_policy="drop", model="random-effects"))
    assert uni.model == "random-effects"
    dl = fitting.fit_table(acc, FitSpec("accuracy", method="dl", variance_policy="drop"))
    assert dl.model == "random-effects" and any("pooled as independent" in n for n in dl.notes)
    with pytest.raises(UsageError, match="fitted by REML or ML"):
        fitting.fit_table(acc, FitSpec("accuracy", method="dl", variance_policy="drop", model="multilevel"))


def test_moderators_given_as_one_string_are_one_moderator(tab):
    """``moderators='bits'`` is the column bits, not the characters b, i, t, s."""
    res = mq.api.fit(tab, "accuracy", method="reml", variance_policy="drop", moderators="bits",
                     model="random-effects")
    assert [c["name"] for c in res.rma.coefficients] == ["intrcpt", "log2(bits)"]


# ---------------------------------------------------------------- the variance policy


def test_policy_table_lists_every_engine_and_its_default():
    assert set(ENGINE_POLICIES) == {"frequentist", "bayes", "exact", "bma", "ssm"}
    assert ENGINE_POLICIES["ssm"] == {"accepts": (), "default": None}  # SSM reads no sampling variance
    assert ENGINE_POLICIES["bma"]["default"] == "drop" and "model" not in ENGINE_POLICIES["bma"]["accepts"]
    assert ENGINE_POLICIES["frequentist"]["default"] == "refuse"
    assert "model" not in ENGINE_POLICIES["frequentist"]["accepts"]


def test_apply_policy_drop_impute_refuse_and_model(acc):
    n_unknown = int((~acc["vi_known"]).sum())
    assert n_unknown == 13
    dropped, note = apply_variance_policy(acc, "drop", engine="frequentist")
    assert len(dropped) == 4 and "dropped 13 rows" in note
    imputed, note = apply_variance_policy(acc, "impute-max", engine="exact")
    known = acc.loc[acc["vi_known"], "vi"]
    assert np.allclose(imputed.loc[~acc["vi_known"], "vi"], known.max()) and imputed["vi_known"].all()
    med, _ = apply_variance_policy(acc, "impute-median", engine="bayes")
    assert np.allclose(med.loc[~acc["vi_known"], "vi"], known.median())
    kept, note = apply_variance_policy(acc, "model", engine="bayes")
    assert kept is acc and note is None
    with pytest.raises(InputError, match=r"ssm2025, row \d+ \(line \d+\), column 'vi'"):
        apply_variance_policy(acc, "refuse", engine="exact")
    with pytest.raises(UsageError, match="cannot honour"):
        apply_variance_policy(acc, "model", engine="frequentist")


@pytest.mark.parametrize("policy", ["drop", "impute-max", "impute-median"])
def test_every_policy_reaches_the_classical_engine(acc, policy):
    res = fitting.fit_table(acc, FitSpec("accuracy", method="reml", variance_policy=policy, model="random-effects"))
    pooled, _ = apply_variance_policy(acc, policy, engine="frequentist")
    ref = rma.rma(pooled["yi"].to_numpy(), pooled["vi"].to_numpy(), method="REML")
    assert res.rma.k == len(pooled) and res.rma.estimate == pytest.approx(ref.estimate, rel=1e-12)
    assert res.notes and policy.split("-")[0] in res.notes[0]


@pytest.mark.parametrize("policy", ["drop", "impute-max", "model"])
def test_every_policy_reaches_the_exact_engine(acc, policy):
    res = fitting.fit_table(acc, FitSpec("accuracy", method="exact", variance_policy=policy))
    d = res.to_dict()
    expected_k = 4 if policy == "drop" else 17
    assert d["k"] == expected_k
    assert (d["n_unknown_vi"] == 13) is (policy == "model")


def test_the_bayes_engine_honours_drop(acc):
    """The first version's live bug: ``--method bayes --missing-vi drop`` silently pooled every row."""
    res = fitting.fit_table(acc, FitSpec("accuracy", variance_policy="drop"),
                            RunSettings(draws=100, tune=100, chains=2))
    d = res.to_dict()
    assert d["k"] == 4 and d["n_unknown_vi"] == 0
    assert any("dropped 13 rows" in n for n in d.get("notes", []) + d.get("warnings", []))


def test_refuse_is_an_error_for_every_engine(acc):
    for method in ("reml", "exact", "bayes"):
        with pytest.raises(InputError, match="no sampling variance"):
            fitting.fit_table(acc, FitSpec("accuracy", method=method, variance_policy="refuse"))


def test_fit_or_reason_says_why_a_property_cannot_be_pooled(tab):
    r = fitting.fit_or_reason(tab, FitSpec("f1_score", method="reml", variance_policy="drop"))
    assert isinstance(r, fitting.NotPooled) and not r.ok and r.label_code is None
    assert "no row of 'f1_score' has a known sampling variance" in r.reason
    assert r.to_dict()["estimable"] is False and r.to_frame().loc[0, "property"] == "f1_score"


def test_ssm_vocabulary_is_the_engines():
    from metaquant.spec import SSM_RULES
    from metaquant.ssm import RULES

    assert set(SSM_RULES) == set(RULES)
    with pytest.raises(UsageError, match="unknown selection"):
        FitSpec("accuracy", method="ssm", selection="majority")
