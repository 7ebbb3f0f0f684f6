"""High-level Python API: one call per question, shared by the CLI and reports.

>>> import metaquant as mq
>>> res = mq.api.fit("ssm2025", "accuracy", method="reml", missing_vi="drop")  # doctest: +SKIP
>>> res["estimate"], res["label_code"]  # doctest: +SKIP

Engines are imported lazily so that classical fits never pay PyMC's import.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import scale, schema
from .effects import compute_effects, for_property, handle_unknown_vi, moderator_matrix, pct_from_log
from .errors import InputError
from .io import load
from .outputs import json_safe as clean  # noqa: F401  (re-exported: api.clean)

FREQUENTIST_METHODS = ("fe", "dl", "reml", "ml", "pm", "hs", "sj", "eb", "he")
BAYES_METHODS = ("bayes", "exact")
METHODS = BAYES_METHODS + FREQUENTIST_METHODS


def effect_table(data="ssm2025", *, measure: str = "ROM", include_confounded: bool = False):
    """Load evidence (dataset names, files or a list) and compute effect sizes."""
    return compute_effects(load(data, include_confounded=include_confounded), measure=measure)


def _thresholds(prop: str, thresholds: Sequence[float] | None):
    return scale.validate_thresholds(thresholds) if thresholds else schema.get_property(prop).thresholds


def fit_frequentist(
    table, *, method="reml", test="z", moderators=(), missing_vi=None, level=95.0, thresholds=None
) -> dict:
    """Classical pooling of one property's effect table (metafor's ``rma``).

    Returns the engine's dictionary plus ``property``, ``k_total``,
    ``pct``/``pct_ci_low``/``pct_ci_high``/``pct_pi_low``/``pct_pi_high`` (relative
    improvement in %), the SSM ``label_code`` of the point estimate and ``notes``.
    """
    from . import frequentist

    prop = schema.get_property(table["property"].iloc[0])
    pooled, note = handle_unknown_vi(table, missing_vi or "refuse", engine=f"the {method.upper()} estimator")
    X, names = moderator_matrix(pooled, list(moderators))
    try:
        res = frequentist.rma(
            pooled["yi"].to_numpy(float),
            pooled["vi"].to_numpy(float),
            method=method.upper(),
            test=test,
            mods=X if names else None,
            mod_names=names or None,
            level=level,
        )
    except ValueError as exc:
        raise InputError(f"{prop.name}: {exc}") from None
    out = res.to_dict()
    hib = prop.higher_is_better
    if len(moderators) == 1:
        # the effect at each observed level of a single moderator (metafor: predict(res, newmods=...))
        spec = list(moderators)[0]
        mod = spec.partition(":")[0]
        levels_df = pooled.drop_duplicates(mod).sort_values(mod, ascending=False)
        Xn, _ = moderator_matrix(levels_df, [spec])
        pr = frequentist.predict(res, Xn).to_frame()
        th = _thresholds(prop.name, thresholds)
        out["predictions"] = [
            {
                "moderator": mod,
                "level": lev.item() if hasattr(lev, "item") else lev,
                "k": int((pooled[mod] == lev).sum()),
                **{key: float(row[key]) for key in ("pred", "se", "ci_low", "ci_high", "pi_low", "pi_high")},
                "pct": float(pct_from_log(row["pred"], hib)),
                "pct_ci_low": float(pct_from_log(row["ci_low"], hib)),
                "pct_ci_high": float(pct_from_log(row["ci_high"], hib)),
                "label_code": scale.label_from_pct(float(pct_from_log(row["pred"], hib)), th),
            }
            for lev, (_, row) in zip(levels_df[mod], pr.iterrows(), strict=True)
        ]
    out.update(property=prop.name, k_total=len(table), n_studies=int(pooled["study"].nunique()))
    for key, src in (
        ("pct", "estimate"),
        ("pct_ci_low", "ci_low"),
        ("pct_ci_high", "ci_high"),
        ("pct_pi_low", "pi_low"),
        ("pct_pi_high", "pi_high"),
    ):
        v = out.get(src)
        out[key] = None if v is None else float(pct_from_log(v, hib))
    if not names:
        code = scale.label_from_pct(out["pct"], _thresholds(prop.name, thresholds))
        out.update(label_code=code, label=scale.label_name(code))
    out["notes"] = [note] if note else []
    return out


def fit_bayes(table, *, method="bayes", moderators=(), thresholds=None, **kw):
    """Bayesian pooling (``method="bayes"``: PyMC; ``"exact"``: quadrature). Returns the result object."""
    from . import bayes

    th = _thresholds(table["property"].iloc[0], thresholds)
    if method == "exact":
        if moderators:
            raise InputError(
                "the exact engine fits the random-effects model without moderators",
                expected="--method bayes for meta-regression",
            )
        # None or "model": unknown variances get the residual scale sigma_resid (2-D quadrature)
        missing_vi = kw.pop("missing_vi", None) or "model"
        note = None
        if missing_vi != "model":
            table, note = handle_unknown_vi(table, missing_vi, engine="the exact engine")
        keep = {k: v for k, v in kw.items() if k in ("priors", "grid")}
        res = bayes.fit_exact(table, thresholds=th, **keep)
        if note:
            res.warnings.append(note)
        return res
    missing_vi = kw.pop("missing_vi", None)
    note = None
    if missing_vi not in (None, "model"):
        table, note = handle_unknown_vi(table, missing_vi, engine="the Bayesian model")
    res = bayes.fit(table, moderators=list(moderators) or None, thresholds=th, **kw)
    if note:
        res.warnings.append(note)
    if len(moderators) == 1:
        res.predictions = bayes_predictions(res, table, list(moderators)[0], th)
    return res


def bayes_predictions(res, table, spec: str, thresholds) -> list[dict]:
    """Posterior of the pooled effect at each observed level of one moderator.

    For level x the draws of ``mu + (x - centre)' beta`` are summarised in
    log ratio and %, with SSM zone probabilities and the 0.75-rule label, so a
    meta-regression on bits reads as "the effect at 8, 4, 2 bits".
    """
    md = res.data
    mod = spec.partition(":")[0]
    levels_df = table.drop_duplicates(mod).sort_values(mod, ascending=False)
    Xn, names = moderator_matrix(levels_df, [spec])
    for j, name in enumerate(names):
        Xn[:, j] -= md.centres.get(name, 0.0)
    mu = np.asarray(res.idata.posterior["mu"].values, dtype=float).reshape(-1)
    beta = np.asarray(res.idata.posterior["beta"].values, dtype=float).reshape(mu.size, -1)
    hib = md.higher_is_better
    out = []
    for lev, x in zip(levels_df[mod], Xn, strict=True):
        draws = mu + beta @ x
        pct = pct_from_log(draws, hib)
        zp = scale.zone_probabilities_from_draws(pct, thresholds)
        sel = scale.label_from_zone_probabilities(zp)
        q = np.quantile(draws, [0.025, 0.975])
        qp = np.quantile(pct, [0.025, 0.975])
        out.append(
            {
                "moderator": mod,
                "level": lev.item() if hasattr(lev, "item") else lev,
                "k": int((table[mod] == lev).sum()),
                "mean": float(draws.mean()),
                "sd": float(draws.std(ddof=1)),
                "ci_low": float(q[0]),
                "ci_high": float(q[1]),
                "pct": float(np.mean(pct)),
                "pct_ci_low": float(qp[0]),
                "pct_ci_high": float(qp[1]),
                "label_code": sel.code,
                "label_probability": float(sel.belief),
                "zone_probabilities": zp,
            }
        )
    return out


def fit(data="ssm2025", prop="accuracy", *, method="bayes", measure="ROM", include_confounded=False, **kw):
    """Load, compute effects and fit one property; a JSON-ready dictionary."""
    table = for_property(effect_table(data, measure=measure, include_confounded=include_confounded), prop)
    if method in FREQUENTIST_METHODS:
        return fit_frequentist(table, method=method, **kw)
    if method in BAYES_METHODS:
        return fit_bayes(table, method=method, **kw).to_dict()
    raise InputError(f"unknown method {method!r}", expected=" | ".join(METHODS))
