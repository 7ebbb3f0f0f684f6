"""Interrupts and extreme numeric options: an interrupted run writes nothing, every number is checked.

* Ctrl-C during MCMC ends the run with exit code 130 and no output (PyMC swallows
  ``KeyboardInterrupt`` and returns a partial trace; that trace is never a result).
* Every numeric option goes through one validator: NaN, infinities and values out of
  the stated range are click errors naming the option and the range (exit code 2).
* ``predict`` cautions on settings outside the pooled range and refuses predictions
  beyond the effect scale.
"""

import math
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

import metaquant as mq
from metaquant.cli import main
from metaquant.errors import InputError, UsageError


def _cli(args):
    return CliRunner().invoke(main, args, catch_exceptions=True)


# --------------------------------------------------------------------------
# Interrupts
# --------------------------------------------------------------------------

# Runs the CLI with a marker on stderr at the first MCMC draw, so that the test
# interrupts sampling itself (not start-up or compilation).
_HARNESS = textwrap.dedent("""
    import sys
    import pymc as pm

    _sample = pm.sample

    def sample(*args, callback=None, **kw):
        seen = []

        def cb(trace=None, draw=None):
            if not seen:
                seen.append(1)
                print("FIRST-DRAW", file=sys.stderr, flush=True)
            if callback is not None:
                callback(trace=trace, draw=draw)

        return _sample(*args, callback=cb, **kw)

    pm.sample = sample
    from metaquant.cli import main
    main(sys.argv[1:], prog_name="metaquant")
""")


def _default_sigint():
    """A child as a terminal starts it: a runner started in the background ignores SIGINT, and children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_sigint_during_sampling_exits_130_and_writes_nothing(tmp_path):
    script = tmp_path / "harness.py"
    script.write_text(_HARNESS)
    out = tmp_path / "o"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    # 2 chains x 20000 draws: minutes of sampling, far more than the test waits
    proc = subprocess.Popen([sys.executable, str(script), "fit", "--property", "accuracy", "--mcmc", "--chains", "2",
                             "--draws", "20000", "--tune", "50", "--quiet", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_default_sigint)
    try:
        seen = []
        for _ in range(200):  # the marker, after whatever a library prints on import
            seen.append(proc.stderr.readline())
            if "FIRST-DRAW" in seen[-1] or not seen[-1]:
                break
        assert "FIRST-DRAW" in seen[-1], "".join(seen) + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (proc.returncode, stdout[-500:], stderr[-500:])
    assert stderr.strip().splitlines()[-1] == "interrupted"
    assert "wrote" not in stdout and "Traceback" not in stderr
    assert not out.exists()


def test_partial_trace_is_never_a_result(monkeypatch):
    """PyMC returns the draws it has after Ctrl-C; a posterior short of chains is refused, not returned."""
    import pymc as pm

    from metaquant.bayes.sampling import SamplingInterrupted

    real = pm.sample

    def one_chain(*args, **kw):  # what pm.sample gives back when chain 0 was interrupted
        return real(*args, **{**kw, "chains": 1, "initvals": kw["initvals"][:1]})

    monkeypatch.setattr(pm, "sample", one_chain)
    with pytest.raises(KeyboardInterrupt) as info:
        mq.fit("ssm2025", "accuracy", method="bayes", draws=30, tune=30, chains=2, force_mcmc=True)
    assert isinstance(info.value, SamplingInterrupted)
    assert "1 of 2 chains" in str(info.value)


def test_interrupt_guard_short_draws_and_restores_handler():
    import xarray as xr

    from metaquant.bayes.sampling import InterruptGuard, SamplingInterrupted

    before = signal.getsignal(signal.SIGINT)
    post = xr.Dataset({"mu": (("chain", "draw"), np.zeros((2, 40)))})
    with pytest.raises(SamplingInterrupted, match="40 of 50 draws"), InterruptGuard(chains=2, draws=50) as g:
        g.check(post)
    assert signal.getsignal(signal.SIGINT) is before
    with InterruptGuard(chains=2, draws=40) as g:
        g.check(post)  # complete: no error


# --------------------------------------------------------------------------
# One validator for numeric options
# --------------------------------------------------------------------------

EXACT = ["fit", "--property", "accuracy", "--method", "exact"]
PRED = ["predict", "--data", "benchmarks", "--property", "perplexity", "--method", "reml", "--missing-vi", "drop"]
SENS = ["sensitivity", "--property", "accuracy"]

CASES = [
    (SENS + ["--thresholds", "--factors", "1,nan"], "--factors", "nan is not a finite number in [0.01, 100]"),
    (SENS + ["--thresholds", "--factors", "1,inf"], "--factors", "inf is not a finite number in [0.01, 100]"),
    (SENS + ["--priors", "--mu-sd", "1e300"], "--mu-sd", "1e300 is not a finite number in [0.001, 1000]"),
    (SENS + ["--priors", "--prior-tau", "halfnormal:nan"], "--prior-tau",
     "'halfnormal:nan' is not 'halfnormal:S' or 'halfcauchy:S' with a scale S in [0.001, 1000]"),
    (SENS + ["--belief", "--jobs", "0"], "--jobs", "0 is not an integer in [1, 1024]"),
    (EXACT + ["--prior-mu-sd", "1e-200"], "--prior-mu-sd", "1e-200 is not a finite number in [0.001, 1000]"),
    (EXACT + ["--prior-mu-sd", "1e200"], "--prior-mu-sd", "1e200 is not a finite number in [0.001, 1000]"),
    (EXACT + ["--prior-tau", "halfnormal:1e300"], "--prior-tau",
     "'halfnormal:1e300' is not 'halfnormal:S' or 'halfcauchy:S' with a scale S in [0.001, 1000]"),
    (EXACT + ["--min-probability", "nan"], "--min-probability", "nan is not a finite number in (0, 1]"),
    (EXACT + ["--threshold-scale", "inf"], "--threshold-scale", "inf is not a finite number in [0.01, 100]"),
    (EXACT + ["--draws", "0"], "--draws", "0 is not an integer in [1, 1000000]"),
    (EXACT + ["--chains", "1e300"], "--chains", "1e300 is not an integer in [1, 64]"),
    (EXACT + ["--seed", "-1"], "--seed", "-1 is not an integer in [0, 4294967295]"),
    (["fit", "--property", "accuracy", "--method", "reml", "--rho", "inf"], "--rho",
     "inf is not a finite number in (-1, 1)"),
    (PRED + ["--bits", "nan"], "--bits", "nan is not a finite number in (0, 64]"),
    (PRED + ["--bits", "0"], "--bits", "0 is not a finite number in (0, 64]"),
    (PRED + ["--bits", "-4"], "--bits", "-4 is not a finite number in (0, 64]"),
    (PRED + ["--bits", "1e300"], "--bits", "1e300 is not a finite number in (0, 64]"),
    (PRED + ["--params", "inf"], "--params", "inf is not a finite number in (0, 1e+15]"),
    (["compare", "--property", "accuracy", "--fast", "--tune", "-5"], "--tune", "-5 is not an integer in [0, 1000000]"),
    (["compare", "--property", "accuracy", "--fast", "--jobs", "0"], "--jobs", "0 is not an integer in [1, 1024]"),
    (["compare", "--property", "accuracy", "--fast", "--jobs", "2.5"], "--jobs", "2.5 is not an integer in [1, 1024]"),
    (["report", "--out", "r", "--jobs", "1e300"], "--jobs", "1e300 is not an integer in [1, 1024]"),
    (["report", "--out", "r", "--draws", "nan"], "--draws", "nan is not an integer in [1, 1000000]"),
    (["plot", "forest", "--property", "accuracy", "--out", "f.png", "--chains", "0"], "--chains",
     "0 is not an integer in [1, 64]"),
    (["bias", "--property", "accuracy", "--steps", "0.5,nan"], "--steps", "nan is not a finite number in (0, 1]"),
    (["bench", "--list-schemes", "--run-seconds", "nan"], "--run-seconds",
     "nan is not a finite number in [0.01, 3600]"),
    (["data", "show", "ssm2025", "--bits", "nan"], "--bits", "nan is not a finite number in (0, 64]"),
    (["data", "show", "ssm2025", "--limit", "-3"], "--limit", "-3 is not an integer >= 1"),
    (["data", "validate", "ssm2025", "--max-errors", "0"], "--max-errors", "0 is not an integer >= 1"),
]


@pytest.mark.parametrize(("args", "option", "says"), CASES, ids=[f"{c[1]}={c[0][-1]}" for c in CASES])
def test_numeric_option_refused_naming_option_and_range(args, option, says, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = _cli(args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith(f"Error: Invalid value for '{option}': {says}"), res.output
    assert not (tmp_path / "r").exists() and not (tmp_path / "f.png").exists()


def test_help_states_the_ranges():
    out = _cli(["fit", "--help"]).output
    flat = " ".join(out.split())
    assert ("--prior-mu-sd FLOAT mu ~ N(0, S) on the log-ratio scale. "
            "[accepted: a finite number in [0.001, 1000]]") in flat
    assert "scale S in [0.001, 1000]" in flat
    assert "[accepted: an integer in [1, 1000000]]" in flat
    pred = " ".join(_cli(["predict", "--help"]).output.split())
    assert "Weight bit-width. [accepted: a finite number in (0, 64]]" in pred


@pytest.mark.parametrize("kw", [{"prior_mu_sd": 1e-200}, {"prior_mu_sd": 1e200}, {"prior_tau": "halfnormal:1e300"},
                                {"prior_tau": "halfcauchy:1e-5"}])
def test_exact_engine_refuses_priors_out_of_range(kw):
    with pytest.raises(InputError, match=r"outside the accepted range; expected 0\.001 <= .* <= 1000"):
        mq.fit("ssm2025", "accuracy", method="exact", **kw)


def test_exact_engine_at_the_edges_of_the_prior_range():
    """At the edges the quadrature stays finite, and a flat prior (1000) leaves the posterior of a moderately
    wide one (mu ~ N(0, 1000) against N(0, 100)) unchanged to three decimals."""
    lo = mq.fit("ssm2025", "accuracy", method="exact", prior_mu_sd=1e-3, prior_tau="halfnormal:0.001").to_dict()
    assert abs(lo["mu_mean"]) < 0.003 and math.isfinite(lo["mu_ci_low"])
    hi = mq.fit("ssm2025", "accuracy", method="exact", prior_mu_sd=1e3, prior_tau="halfcauchy:1000").to_dict()
    mid = mq.fit("ssm2025", "accuracy", method="exact", prior_mu_sd=100, prior_tau="halfcauchy:100").to_dict()
    assert hi["mu_mean"] == pytest.approx(mid["mu_mean"], abs=1e-3)
    assert hi["mu_ci_low"] == pytest.approx(mid["mu_ci_low"], abs=1e-3)


def test_threshold_factors_nan_refused_in_python():
    from metaquant import sensitivity

    tab = mq.api.effect_table("ssm2025")
    with pytest.raises(InputError, match="positive finite"):
        sensitivity.threshold_scaling(tab, "accuracy", factors=[1.0, float("nan")], engines=["ssm"])


# --------------------------------------------------------------------------
# predict: extrapolation and the effect scale
# --------------------------------------------------------------------------


def test_predict_cautions_outside_the_pooled_range():
    res = _cli(PRED + ["--bits", "16"])
    assert res.exit_code == 0, res.output
    assert "  caution: bits 16 is outside the pooled range 1–8: an extrapolation" in res.output.splitlines()
    inside = _cli(PRED + ["--bits", "4"])
    assert inside.exit_code == 0 and "caution" not in inside.output


def test_predict_refuses_beyond_the_effect_scale():
    res = _cli(PRED + ["--at", "bits=1e-300"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    (line,) = [x for x in res.output.splitlines() if x.startswith("error:")]
    assert "at bits=1e-300" in line and "beyond what the effect scale can hold (|log ratio| <= 50" in line
    assert "%" not in res.output.replace("|log ratio|", "")


@pytest.mark.parametrize(("value", "says"), [("0", "no finite value of the moderator log2(bits)"),
                                              ("nan", "argument 'bits': must be a finite number")])
def test_predict_at_outside_the_domain_is_one_line(value, says):
    res = _cli(PRED + ["--at", f"bits={value}"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    (line,) = [x for x in res.output.splitlines() if x.startswith("error:")]
    assert says in line and "row 1" not in line


def test_predict_python_refuses_huge_bits():
    from metaquant.spec import FitSpec
    from metaquant.workbench.predict import predict

    tab = mq.api.effect_table("benchmarks")
    spec = FitSpec("perplexity", method="reml", variance_policy="drop")
    with pytest.raises(InputError, match="beyond what the effect scale can hold"):
        predict(tab, spec, {"bits": 1e300})
    with pytest.raises(UsageError, match="finite"):
        predict(tab, spec, {"bits": float("inf")})
    ok = predict(tab, spec, {"bits": 16}).to_dict()
    assert ok["cautions"] == ["bits 16 is outside the pooled range 1–8: an extrapolation"]
