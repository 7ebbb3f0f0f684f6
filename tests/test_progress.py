"""metaquant.progress: a bar on a terminal, a line per finished unit otherwise, silence under quiet;
warnings collected into sentences instead of reaching stderr."""

import io
import logging
import re
import warnings

import pytest

from metaquant import progress
from metaquant.errors import ConvergenceWarning


class FakeStream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def _clock(*ticks):
    it = iter(ticks)
    return lambda: next(it)


def test_lines_when_not_a_terminal():
    s = FakeStream(tty=False)
    with progress.Progress(3, label="fit --all", stream=s, clock=_clock(0.0, 1.25, 3.0, 75.0)) as p:
        p.done("accuracy")
        p.done("dsc")
        p.done("perplexity")
    assert s.getvalue().splitlines() == [
        "fit --all [1/3] accuracy done in 1.2 s (elapsed 1.2 s)",
        "fit --all [2/3] dsc done in 1.8 s (elapsed 3.0 s)",
        "fit --all [3/3] perplexity done in 1 min 12 s (elapsed 1 min 15 s)",
    ]
    assert p.mode == "lines" and p.count == 3


def test_unknown_total_and_echo():
    s = FakeStream(tty=False)
    p = progress.Progress(label="sweep", stream=s, clock=_clock(0.0, 2.0))
    p.done("x0.5")
    p.echo("Convergence warning: R-hat 1.05.")
    p.close()
    p.close()
    assert s.getvalue() == "sweep [1] x0.5 done in 2.0 s (elapsed 2.0 s)\nConvergence warning: R-hat 1.05.\n"


def test_quiet_writes_nothing():
    s = FakeStream(tty=True)
    with progress.Progress(2, label="fit", stream=s, quiet=True) as p:
        p.done("a")
        p.echo("note")
    assert s.getvalue() == "" and p.mode == "quiet"
    assert list(progress.track([1, 2], stream=s, quiet=True)) == [1, 2] and s.getvalue() == ""


def test_bar_on_a_terminal_rich():
    pytest.importorskip("rich")
    s = FakeStream(tty=True)
    with progress.Progress(4, label="leave-one-out", stream=s) as p:
        assert p.mode == "bar" and p._kind == "rich"
        for u in ("S1", "S2", "S3", "S4"):
            p.done(u)
        p.echo("a note")
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", s.getvalue())  # without the terminal's escape codes
    assert "leave-one-out" in out and "4/4" in out and "S4" in out and "a note" in out
    assert "done in" not in out


def test_bar_falls_back_to_click(monkeypatch):
    monkeypatch.setattr(progress, "_rich_available", lambda: False)
    s = FakeStream(tty=True)
    with progress.Progress(2, label="sensitivity", stream=s) as p:
        assert p._kind == "click"
        p.done("S1")
        p.done("S2")
    out = s.getvalue()
    assert "sensitivity" in out and "2/2" in out and "done in" not in out


def test_track_reports_each_item_after_its_work():
    s = FakeStream(tty=False)
    seen = []
    for prop in progress.track(["accuracy", "dsc", "miou"], label="fit", stream=s):
        seen.append((prop, s.getvalue().count("\n")))  # lines written before the body ran
        if prop == "dsc":
            break
    assert seen == [("accuracy", 0), ("dsc", 1)]
    lines = s.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fit [1/3] accuracy done in ")


def test_collect_warnings_gives_sentences_and_nothing_on_stderr(capfd):
    log = logging.getLogger("pymc")
    before = (log.handlers[:], log.propagate)
    with progress.collect_warnings() as got:
        for _ in range(3):
            warnings.warn("R-hat 1.05 exceeds 1.01 for mu", ConvergenceWarning, stacklevel=1)
        warnings.warn("overflow encountered in exp", RuntimeWarning, stacklevel=1)
        warnings.warn("old API", DeprecationWarning, stacklevel=1)
        warnings.warn("the  sampler\n  was slow", UserWarning, stacklevel=1)
        warnings.warn("gpu_power_draw: bulk ESS 15 < 400", UserWarning, stacklevel=1)
        log.warning("There were 12 divergences after tuning. Increase `target_accept`")
        log.info("Auto-assigning NUTS sampler...")
    assert got.sentences() == [
        "Convergence warning: R-hat 1.05 exceeds 1.01 for mu (3 times).",
        "Numerical warning: overflow encountered in exp.",
        "The sampler was slow.",
        "gpu_power_draw: bulk ESS 15 < 400.",
        "There were 12 divergences after tuning. Increase `target_accept`.",
    ]
    assert bool(got) and len(got.warnings) == 6 and len(got.records) == 1
    err = capfd.readouterr().err
    assert err == ""
    assert (log.handlers, log.propagate) == before


def test_collect_warnings_restores_on_error():
    log = logging.getLogger("arviz")
    before = (log.handlers[:], log.propagate)
    with pytest.raises(ValueError), progress.collect_warnings() as got:
        warnings.warn("before the error", UserWarning, stacklevel=1)
        raise ValueError("boom")
    assert got.sentences() == ["Before the error."]
    assert (log.handlers, log.propagate) == before


@pytest.mark.slow
def test_collect_warnings_around_a_short_pymc_fit(capfd):
    from helpers import bayes_ready

    import metaquant as mq

    bayes = bayes_ready()
    t = mq.for_property(mq.compute_effects(mq.load("ssm2025")), "gpu_power_draw")
    with progress.collect_warnings() as got:
        bayes.fit(t, draws=30, tune=30, chains=2, seed=1, progressbar=False)  # too short: diagnostics fail
    assert capfd.readouterr().err == ""  # neither warnings nor PyMC's log lines
    sentences = got.sentences()
    # one sentence per kind of warning, the fits named (collect_warnings sums them up)
    assert sentences and all(s.startswith("Convergence warning: ") and "(gpu_power_draw)" in s for s in sentences)
