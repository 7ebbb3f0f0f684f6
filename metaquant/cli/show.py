"""How the CLI prints a result: what the result holds, at the precision metafor prints."""

from __future__ import annotations

import click
import pandas as pd

from ..bayes.results import RHAT_MAX
from ..evidence import schema
from ..evidence.effects import pct_formula, ratio_words
from ..progress import beside_limit
from ..results import MEASURE_NAMES, RATIO_MEASURE
from ..scale import LABELS


def num(v, digits: int = 4) -> str:
    """A number as metafor prints it (``digits`` decimals); tiny non-zero values in scientific notation."""
    if v is None:
        return "NA"
    v = float(v)
    if v != 0 and abs(v) < 0.5 * 10.0 ** (-digits):
        return f"{v:.1e}"
    return f"{v:.{digits}f}"


def pval(p) -> str:
    if p is None:
        return "NA"
    return "<.0001" if p < 1e-4 else f"{p:.4f}"


def pct(v) -> str:
    return "NA" if v is None else f"{v:+.2f}"


def _hib(d: dict) -> bool:
    """The direction of the result's property: the result's own, else the property registry's."""
    if d.get("higher_is_better") is not None:
        return bool(d["higher_is_better"])
    return bool(schema.get_property(d["property"]).higher_is_better)


def improvement(d: dict, of: str = "estimate") -> str:
    """``relative improvement <formula>: <pct> %``, the formula being the one that gives the % for this property."""
    return f"relative improvement {pct_formula(_hib(d), of)}: {pct(d.get('pct'))} %"


def effect_name(d: dict) -> str:
    """What the result's estimate is: ``log ratio`` (ROM), ``standardized mean difference`` (SMD), ..."""
    return MEASURE_NAMES.get(d.get("measure") or RATIO_MEASURE, "effect")


def echo_ratio(d: dict, y) -> None:
    """For an effect beyond ±50 %, the quantized/baseline ratio in words on its own line."""
    words = ratio_words(y, _hib(d), d.get("property", ""))
    if words:
        click.echo(f"  as a ratio (quantized / baseline): {words}")


def rhat(v) -> str:
    """R-hat with enough decimals to show how it compares with the limit (1.0104, not 1.010)."""
    return num(v, 3) if v is None or v != v else beside_limit(v, RHAT_MAX)


def _level(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _at(p: dict) -> str:
    """``bits = 4`` for one moderator, ``bits=4, technique=gptq`` for a combination."""
    lev = _level(p["level"])
    return lev if "=" in lev else f"{p['moderator']} = {lev}"


def _interval(ci) -> str:
    return "" if not ci else f" [{num(ci[0])}; {num(ci[1])}]"


def print_classical(d: dict) -> None:
    """``print.rma.uni`` in a few lines, with the SSM reading of the estimate."""
    fixed = d["method"].upper() in ("FE", "EE")
    coefs = d.get("coefficients") or []
    meta = len(coefs) > 1
    kind = ("equal-effects" if fixed else "random-effects") + (" meta-regression" if meta else " model")
    head = f"{d['property']}: {d['method'].upper()} {kind}, test={d['test']}, k={d['k']}"
    if d.get("k_total", d["k"]) != d["k"]:
        head += f" of {d['k_total']}"
    click.echo(head)
    for note in d.get("notes", []) + d.get("warnings", []):
        click.echo(f"  note: {note}")
    if not fixed:
        res = "residual " if meta else ""
        click.echo(f"  {res}tau² {num(d['tau2'])}{_interval(d.get('tau2_ci'))} (SE = {num(d.get('se_tau2'))}), "
                   f"tau {num(d['tau'])}")
        click.echo(f"  {res}I² {num(d['I2'], 2)} %{_interval(d.get('I2_ci')) if d.get('I2_ci') else ''}, "
                   f"H² {num(d['H2'], 2)}{_interval(d.get('H2_ci'))}")
    click.echo(f"  test for {'residual ' if meta else ''}heterogeneity: Q(df = {d['Q_df']}) = {num(d['Q'])}, "
               f"p {pval(d['Q_p'])}")
    if meta:
        if d.get("QM_ddf") is not None:
            click.echo(f"  test of moderators: F(df1 = {d['QM_df']}, df2 = {d['QM_ddf']}) = {num(d['QM'])}, "
                       f"p {pval(d['QM_p'])}")
        else:
            click.echo(f"  test of moderators: QM(df = {d['QM_df']}) = {num(d['QM'])}, p {pval(d['QM_p'])}")
        click.echo(f"  {'coefficient':<24}{'estimate':>10}{'se':>10}{'stat':>10}{'pval':>9}{'ci.lb':>10}{'ci.ub':>10}")
        for c in coefs:
            click.echo(f"  {c['name']:<24}{num(c['estimate']):>10}{num(c['se']):>10}{num(c.get('stat')):>10}"
                       f"{pval(c.get('p')):>9}{num(c['ci_low']):>10}{num(c['ci_high']):>10}")
        for p in d.get("predictions") or []:
            click.echo(f"  at {_at(p)} (k={p['k']}): {pct(p['pct'])} % "
                       f"[{pct(p['pct_ci_low'])}, {pct(p['pct_ci_high'])}] %, label {p['label_code']}")
        return
    stat = "zval" if d["test"] == "z" else "tval"
    click.echo(f"  {effect_name(d)} {num(d['estimate'])} (se {num(d['se'])}, {stat} {num(d.get('stat'))}, "
               f"p {pval(d['pval'])}), {d.get('level', 95):g}% CI [{num(d['ci_low'])}, {num(d['ci_high'])}]")
    if d.get("withheld_reason"):
        click.echo(f"  no label and no % headline: {d['withheld_reason']}")
        return
    line = f"  {improvement(d)}, CI [{pct(d['pct_ci_low'])}, {pct(d['pct_ci_high'])}] %"
    if not fixed:
        line += f"; prediction interval [{pct(d['pct_pi_low'])}, {pct(d['pct_pi_high'])}] %"
    click.echo(line)
    echo_ratio(d, d["estimate"])
    click.echo(f"  SSM label of the point estimate: {d['label']} ({d['label_code']})")


def print_location_scale(d: dict) -> None:
    """A location-scale fit (metafor's ``print.rma.ls``): location and scale coefficients, tau² per row."""
    head = f"{d['property']}: {d['description']}, k={d['k']}"
    if d.get("k_total", d["k"]) != d["k"]:
        head += f" of {d['k_total']}"
    click.echo(head)
    for note in d.get("notes", []):
        click.echo(f"  note: {note}")
    click.echo(f"  tau² by row: median {num(d['tau2'])}, from {num(d['tau2_min'])} to {num(d['tau2_max'])}")
    if (d.get("QM_df") or 0) and len(d["coefficients"]) > 1:
        click.echo(f"  test of location moderators: QM(df = {d['QM_df']}) = {num(d['QM'])}, p {pval(d['QM_p'])}")
    if len(d["alpha"]) > 1:
        click.echo(f"  test of scale moderators: QS(df = {d['QS_df']}) = {num(d['QS'])}, p {pval(d['QS_p'])}")
    click.echo(f"  {'coefficient':<30}{'estimate':>10}{'se':>10}{'zval':>10}{'pval':>9}{'ci.lb':>10}{'ci.ub':>10}")
    for part, coefs in (("", d["coefficients"]), ("scale: ", d["alpha"])):
        for c in coefs:
            click.echo(f"  {part + c['name']:<30}{num(c['estimate']):>10}{num(c['se']):>10}{num(c.get('stat')):>10}"
                       f"{pval(c.get('p')):>9}{num(c['ci_low']):>10}{num(c['ci_high']):>10}")
    for p in d.get("predictions") or []:
        click.echo(f"  at {_at(p)} (k={p['k']}): {pct(p['pct'])} % "
                   f"[{pct(p['pct_ci_low'])}, {pct(p['pct_ci_high'])}] %, label {p['label_code']}")
    if len(d["coefficients"]) == 1 and d.get("pct") is not None:
        click.echo(f"  {improvement(d)}, CI [{pct(d['pct_ci_low'])}, {pct(d['pct_ci_high'])}] %")
        click.echo(f"  SSM label of the point estimate: {d['label']} ({d['label_code']})")


def _zones_line(zp: dict) -> str:
    shown = [f"{z} {zp[z]:.3f}" for z in LABELS if zp.get(z, 0) >= 0.0005]
    return "  zones: " + ", ".join(shown)


def print_bayes(d: dict) -> None:
    """The posterior of a Bayesian fit, its label with the zones it spans, and the diagnostics."""
    click.echo(f"{d.get('property', '')}: Bayesian {d.get('model')} model ({d.get('engine', d.get('method'))}), "
               f"k={d['k']}, studies={d.get('n_studies')}")
    click.echo(f"  pooled {effect_name(d)} mu: median {num(d.get('mu_median'))}, mean {num(d['mu_mean'])} "
               f"(sd {num(d['mu_sd'])}), 95% CrI [{num(d['mu_ci_low'])}, {num(d['mu_ci_high'])}]")
    withheld = d.get("withheld_reason")
    if not withheld:
        head = dict(d, pct=d.get("pct", d.get("pct_median")))
        click.echo(f"  {improvement(head, 'median mu')}, 95% CrI [{pct(d['pct_ci_low'])}, "
                   f"{pct(d['pct_ci_high'])}] %")
        echo_ratio(d, d.get("mu_median"))
    if d.get("pct_pi_low") is not None:
        click.echo(f"  new study (prediction) [{pct(d['pct_pi_low'])}, {pct(d['pct_pi_high'])}] %")
    taus = [k for k in ("tau", "tau_study", "tau_within", "sigma_resid") if d.get(f"{k}_mean") is not None]
    if taus:
        click.echo("  " + ", ".join(f"{k} {num(d[f'{k}_mean'])} (sd {num(d.get(f'{k}_sd'))})" for k in taus))
    if d.get("reference"):
        click.echo(f"  ({d['reference']})")
    for c in d.get("coefficients") or []:
        click.echo(f"  {c['name']:<24} {num(c['mean'])} (sd {num(c['sd'])}) [{num(c['ci_low'])}, {num(c['ci_high'])}]")
    for p in d.get("predictions") or []:
        if p.get("pct") is None:
            continue
        lab = p.get("label_code") or "no label"
        click.echo(f"  at {_at(p)} (k={p['k']}): {pct(p['pct'])} % "
                   f"[{pct(p['pct_ci_low'])}, {pct(p['pct_ci_high'])}] %, {lab} "
                   f"(p {num(p.get('label_probability'), 2)})")
    where = " at the reference" if d.get("reference") else ""
    zones = d.get("label_zones") or []
    if withheld:
        click.echo(f"  no label and no % headline: {withheld}")
    elif d.get("label_code"):
        span = f" = P({' + '.join(zones)})" if len(zones) > 1 else ""
        click.echo(f"  SSM label{where}: {d['label']} ({d['label_code']}), posterior probability "
                   f"{num(d['label_probability'], 3)}{span}")
    else:
        click.echo(f"  SSM label{where}: no label: the evidence does not decide (best candidate "
                   f"{d.get('label_selected') or 'none'}, probability {num(d.get('label_probability'), 3)} < "
                   f"{num(d.get('min_probability', 0.75), 2)})")
    if not withheld:
        click.echo(_zones_line(d.get("zone_probabilities") or {}))
    if (d.get("diagnostics") or {}).get("method") == "quadrature":
        pass  # said in the notes: posterior by quadrature, no MCMC diagnostics to show
    elif d.get("r_hat_max") is not None or d.get("engine") == "bayes":
        click.echo(f"  diagnostics: R-hat max {rhat(d.get('r_hat_max'))}, bulk ESS min "
                   f"{num(d.get('ess_bulk_min'), 0)}, divergences {d.get('divergences')}, seed {d.get('seed')}")
    for note in d.get("notes") or []:
        click.echo(f"  note: {note}")
    for w in d.get("warnings") or []:
        if w not in (d.get("notes") or []):
            click.echo(click.style(f"  WARNING: {w}", fg="red", bold=True))


#: The columns of one property's row in an exported ``fit`` table.
SUMMARY_COLUMNS = ("property", "engine", "k", "k_total", "label_code", "label_probability", "pct", "pct_ci_low",
                   "pct_ci_high", "pct_pi_low", "pct_pi_high", "tau2", "tau_mean", "I2", "ok", "reason",
                   "withheld_reason")


def summary_frame(results) -> pd.DataFrame:
    """One row per result (property) with the numbers a paper's table reports."""

    rows = []
    for r in results:
        d = r.to_dict()
        rows.append({c: d.get(c) for c in SUMMARY_COLUMNS})
    df = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    return df.dropna(axis=1, how="all")


def print_multilevel(res) -> None:
    """``print.rma.mv`` (variance components with profile intervals, I² per level) and the SSM reading."""
    d = res.to_dict()
    head = f"{d['property']}: {d['method'].upper()} multilevel model (comparisons nested in studies), k={d['k']}"
    if d.get("k_total", d["k"]) != d["k"]:
        head += f" of {d['k_total']}"
    click.echo(head)
    for note in d.get("notes", []):
        click.echo(f"  note: {note}")
    for line in str(res.rma).strip("\n").splitlines():
        click.echo(f"  {line}" if line else "")
    if res.robust is not None:
        for line in str(res.robust).strip("\n").splitlines():
            click.echo(f"  {line}" if line else "")
    if d.get("label_code"):
        line = f"  {improvement(d)}, CI [{pct(d['pct_ci_low'])}, {pct(d['pct_ci_high'])}] %"
        if d.get("pct_pi_low") is not None:
            line += f"; prediction interval [{pct(d['pct_pi_low'])}, {pct(d['pct_pi_high'])}] %"
        click.echo(line)
        echo_ratio(d, d["estimate"])
        if d.get("robust"):
            r = d["robust"]
            click.echo(f"  cluster-robust ({r.get('type', '').upper()}) CI [{pct(r['pct_ci_low'])}, "
                       f"{pct(r['pct_ci_high'])}] %")
        click.echo(f"  SSM label of the point estimate: {d['label']} ({d['label_code']})")
    if d.get("withheld_reason"):
        click.echo(f"  no label and no % headline: {d['withheld_reason']}")
    for p in d.get("predictions") or []:
        if p.get("pct") is not None:
            click.echo(f"  at {_at(p)} (k={p['k']}): {pct(p['pct'])} % "
                       f"[{pct(p['pct_ci_low'])}, {pct(p['pct_ci_high'])}] %, label {p['label_code']}")


def print_bma(d: dict) -> None:
    """The model-averaged (bias-adjusted) ensemble: effect, inclusion Bayes factors, the label before and after."""
    click.echo(f"{d['property']}: Bayesian model averaging over {len(d.get('members') or [])} models "
               f"(effect x heterogeneity x publication bias), k={d['k']}")
    mu = d.get("mu") or {}
    head = (f"  model-averaged {effect_name(d)}: median {num(mu.get('median'))}, 95% CrI [{num(mu.get('ci_low'))}, "
            f"{num(mu.get('ci_high'))}]")
    if d.get("withheld_reason"):
        click.echo(head)
        click.echo(f"  no label and no % headline: {d['withheld_reason']}")
    else:
        click.echo(f"{head}; {improvement(d, 'median mu')} [{pct(d.get('pct_ci_low'))}, {pct(d.get('pct_ci_high'))}] %")
        echo_ratio(d, mu.get("median"))
    for name, inc in (d.get("inclusion") or {}).items():
        click.echo(f"  {name}: prior {num(inc.get('prior'), 3)} -> posterior {num(inc.get('posterior'), 3)}, "
                   f"inclusion BF {num(inc.get('bf'), 3)}")
    plain, ens = d.get("label_plain") or {}, d.get("label_ensemble") or {}
    verdict = "survives" if d.get("label_survives") else "does not survive"
    click.echo(f"  SSM label, plain random-effects model: {plain.get('code') or 'no label'} "
               f"(P {num(plain.get('probability'), 3)}); bias-adjusted ensemble: {ens.get('code') or 'no label'} "
               f"(P {num(ens.get('probability'), 3)}): the label {verdict} bias adjustment")
    top = sorted(d.get("members") or [], key=lambda m: -(m.get("post_prob") or 0))[:5]
    for m in top:
        click.echo(f"    {m['name']:<40} prior {num(m.get('prior_prob'), 3)}  posterior {num(m.get('post_prob'), 3)}")
    diag = d.get("diagnostics") or {}
    quad = f"quadrature error max {num(diag.get('quadrature_error_max'), 6)} (log p(y))"
    if diag.get("members_sampled") == 0:
        click.echo(f"  diagnostics: every member by quadrature or in closed form (no MCMC); {quad}")
    else:
        click.echo(f"  diagnostics: R-hat max {rhat(diag.get('r_hat_max'))}, bulk ESS min "
                   f"{num(diag.get('ess_bulk_min'), 0)}, divergences {diag.get('divergences')}, bridge-sampling "
                   f"error max {num(diag.get('bridge_re_max'), 4)}; {quad}")
    if d.get("ok") is False:
        click.echo(click.style("  WARNING: diagnostics failed (R-hat, ESS, divergences or bridge-sampling error): "
                               "draw more before reading these numbers", fg="red", bold=True))
    for note in d.get("notes") or []:
        click.echo(f"  note: {note}")


def print_checks(c: dict) -> None:
    """``fit --check``: the posterior predictive check and the PSIS-LOO summary (or why they are not there)."""
    if not c.get("available"):
        click.echo(f"  checks: {c.get('reason')}")
        return
    ppc, loo = c.get("ppc"), c.get("loo")
    if ppc:
        pv = ppc["p_values"]
        click.echo(f"  posterior predictive check: {ppc['outside']} of {ppc['n']} rows outside their "
                   f"{ppc['level'] * 100:g}% predictive interval (expected {ppc['expected_outside']:.1f}); "
                   f"p-values of min {pv['min']:.2f}, max {pv['max']:.2f}, sd {pv['sd']:.2f}")
    if loo:
        click.echo(f"  PSIS-LOO: elpd_loo {loo['elpd_loo']:.2f} (se {loo['se']:.2f}), p_loo {loo['p_loo']:.2f}; "
                   f"Pareto k: {loo['k_good']} good (<= 0.5), {loo['k_ok']} ok (<= 0.7), {loo['k_bad']} bad "
                   f"(<= 1), {loo['k_very_bad']} very bad (> 1)")
    if c.get("reason"):
        click.echo(f"  checks: {c['reason']}")
    flags = c.get("outliers") or []
    click.echo(f"  outlying or influential rows: {len(flags) or 'none'}"
               + "".join(f"\n    {f['comparison']} ({f['pct']:+.1f} %): {f['why']}" for f in flags))


def print_result(res) -> None:
    """Print any engine's result (or why a property was not pooled)."""
    d = res.to_dict()
    if d.get("estimable") is False:
        click.echo(f"{d['property']}: not pooled ({d['engine']}): {d['reason']}")
        return
    if res.engine == "frequentist" and getattr(res, "model", None) == "location-scale":
        print_location_scale(d)
        return
    if res.engine == "frequentist" and getattr(res, "model", None) == "multilevel":
        print_multilevel(res)
        return
    if res.engine == "bma":
        print_bma(d)
        return
    (print_classical if res.engine == "frequentist" else print_bayes)(d)


__all__ = ["num", "print_bayes", "print_checks", "print_classical", "print_location_scale", "print_result", "pval"]
