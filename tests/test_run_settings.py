"""One set of MCMC defaults: every command shows it, and one spec with one settings gives one answer everywhere.

``spec.RunSettings()`` holds the defaults of ``fit``, ``compare``, ``sensitivity``, ``report`` and ``predict``;
the lighter settings of sweeps are the named ``RunSettings.for_sweep()`` and say so in their output.  The
numbers are compared between the entry points, fitted with the same seed: the PyMC sampler with a seed is
deterministic, so any difference in spec, settings, rows or variance policy on the way shows as a different
posterior.
"""

import re

import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import bayes_ready as _bayes_ready

import metaquant as mq
from metaquant import api
from metaquant.cli import main
from metaquant.present import report
from metaquant.spec import DEFAULT_MCMC, DEFAULT_SEED, SWEEP_MCMC, FitSpec, RunSettings
from metaquant.workbench import compare, sensitivity
from metaquant.workbench.predict import design_at, predict

COMMANDS = (["fit"], ["compare"], ["sensitivity"], ["report"], ["predict"])


def _default(help_text: str, option: str) -> str:
    flat = " ".join(help_text.split())
    m = re.search(rf"{option} INTEGER .*?\[default: (\d+)", flat)
    assert m, f"{option} has no default in:\n{help_text}"
    return m.group(1)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_every_fitting_command_shows_the_one_set_of_mcmc_defaults(command):
    out = CliRunner().invoke(main, [*command, "--help"], terminal_width=200)
    assert out.exit_code == 0, out.output
    shown = tuple(int(_default(out.output, o)) for o in ("--draws", "--tune", "--chains"))
    assert shown == DEFAULT_MCMC == (RunSettings().draws, RunSettings().tune, RunSettings().chains)
    assert int(_default(out.output, "--seed")) == DEFAULT_SEED


@pytest.mark.parametrize("command", COMMANDS + (["plot", "forest"], ["plot", "posterior"], ["plot", "bits"]),
                         ids=lambda c: "-".join(c))
def test_every_fitting_command_takes_mcmc_and_builds_one_run_settings(command, monkeypatch):
    """--mcmc is one of the shared MCMC options: the command receives the RunSettings they make, force_mcmc set."""
    out = CliRunner().invoke(main, [*command, "--help"], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "--mcmc" in out.output


def test_predict_passes_mcmc_to_the_fit(monkeypatch):
    import metaquant.api as api

    seen = {}

    def capture(table, spec, at, settings=None, **kw):
        seen["settings"] = settings
        raise SystemExit(0)

    monkeypatch.setattr(api, "predict", capture)
    CliRunner().invoke(main, ["predict", "--data", "benchmarks", "--property", "accuracy", "--bits", "8", "--mcmc",
                              "--draws", "300", "--seed", "7"])
    run = seen["settings"]
    assert run.force_mcmc is True and run.draws == 300 and run.seed == 7
    assert run.tune == RunSettings().tune and run.chains == RunSettings().chains


@pytest.mark.parametrize("command", (["compare"], ["sensitivity"], ["report"], ["predict"], ["fit"]),
                         ids=lambda c: c[0])
def test_every_command_with_independent_fits_takes_jobs_and_scheduler(command):
    out = CliRunner().invoke(main, [*command, "--help"], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert int(_default(out.output, "--jobs")) == 1
    assert "[accepted: an integer in [1, 1024]]" in " ".join(out.output.split())
    assert "--scheduler TEXT" in out.output


def test_the_sweep_settings_are_named_and_lighter():
    sweep = RunSettings.for_sweep(seed=3)
    assert (sweep.draws, sweep.tune, sweep.chains, sweep.seed) == (*SWEEP_MCMC, 3)
    assert sweep.describe() == "1000 draws, 500 tuning steps, 2 chains (RunSettings.sweep)"
    assert RunSettings().describe() == "1000 draws, 1000 tuning steps, 4 chains (RunSettings defaults)"
    assert RunSettings(draws=1, tune=0, chains=1).describe() == "1 draw, 0 tuning steps, 1 chain"
    main_fits, sweeps = report.main_settings()
    assert main_fits == RunSettings() and sweeps == RunSettings.for_sweep()
    assert report.main_settings(fast=True)[0] == RunSettings.for_sweep()


def test_the_sensitivity_module_has_no_settings_of_its_own():
    import inspect

    src = inspect.getsource(sensitivity)
    assert "_task_spec" not in src and "SWEEP_DRAWS" not in src
    for fn in (sensitivity.leave_one_out, sensitivity.by_moderator, sensitivity.prior_grid,
               sensitivity.threshold_scaling):
        params = inspect.signature(fn).parameters
        assert params["settings"].default is None and not {"draws", "tune", "chains", "seed"} & set(params)


# ------------------------------------------------------------------ one spec + settings, one answer

TINY = RunSettings(draws=60, tune=60, chains=1, seed=5, force_mcmc=True)  # the sampler, whose numbers a seed moves


def _table(tmp_path):
    # one row per study, every variance known: the exact engine stands in for PyMC in sweeps (auto),
    # so only the fits under test sample
    rows = [{"study": f"T{i}", "property": "accuracy", "improvement_pct": p, "improvement_sd": 0.8, "n_units": 40,
             "study_belief": 0.6, "bits": b}
            for i, (p, b) in enumerate([(-6.0, 2), (-3.1, 4), (-1.0, 8), (-0.4, 16), (-4.2, 3), (-2.5, 4)], 1)]
    pd.DataFrame(rows).to_csv(tmp_path / "e.csv", index=False)
    return mq.compute_effects(mq.load(str(tmp_path / "e.csv")))


def _pct(d: dict) -> tuple:
    # the log-scale posterior summary: a tiny run fails its checks and then states no % and no label
    # (metaquant.results.withhold), but its summary of mu is still reported, and that is what must agree
    return tuple(d.get(k) for k in ("mu_median", "mu_ci_low", "mu_ci_high", "withheld_reason"))


def test_one_spec_and_settings_give_one_estimate_from_every_entry_point(tmp_path):
    _bayes_ready()
    t = mq.for_property(_table(tmp_path), "accuracy")
    spec = FitSpec("accuracy", method="bayes")
    ref = _pct(api.fit(t, spec=spec, settings=TINY).to_dict())
    assert all(v is not None for v in ref[:3])
    pc = compare.compare_property(t, spec=spec, settings=TINY)
    assert _pct(pc.bayes) == ref
    thr = sensitivity.threshold_scaling(t, "accuracy", engines=["bayes"], bayes_engine="pymc", settings=TINY)
    assert _pct(thr.reference["bayes"]) == ref  # the sweep's full-data fit
    sec, _ = report.property_section(t, settings=TINY)
    assert _pct(sec["comparison"]["bayes"]) == ref  # the report's main fit
    # another seed moves the numbers: the equality above is not a constant
    assert _pct(api.fit(t, spec=spec, settings=TINY.replace(seed=6)).to_dict())[:3] != ref[:3]


def test_one_regression_spec_gives_one_slope_from_fit_predict_sensitivity_and_report(tmp_path):
    _bayes_ready()
    t = mq.for_property(_table(tmp_path), "accuracy")
    spec = FitSpec("accuracy", method="bayes", moderators=("bits",))
    res = api.fit(t, spec=spec, settings=TINY)
    slope = next(c for c in res.to_dict()["coefficients"] if c["name"] == "log2(bits)")
    at4 = predict(t, spec, {"bits": 4}, TINY)
    x = design_at(res.rows, spec.moderators, {"bits": 4})
    assert at4.pred == pytest.approx(float(res.predict_new(x)["pred"][0]), rel=1e-12)
    by = sensitivity.by_moderator(t, "accuracy", "bits", engines=["bayes"], bayes_engine="exact", settings=TINY)
    assert by.regression["slope"]["bayes"]["mean"] == slope["mean"]
    band = report.bayes_bits_band(t, TINY)
    assert band["slope_mean"] == pytest.approx(slope["mean"], rel=1e-12)


def test_report_sweeps_keep_mcmc_when_the_main_fits_are_forced_to_sample():
    main_run, sweep = report.main_settings(RunSettings(force_mcmc=True, seed=5))
    assert main_run.force_mcmc and sweep.force_mcmc and sweep.seed == 5
    assert (sweep.draws, sweep.tune, sweep.chains) == SWEEP_MCMC
    assert not report.main_settings(RunSettings())[1].force_mcmc
