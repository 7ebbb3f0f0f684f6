"""``compare`` and ``report``'s comparison over local processes and a Dask cluster: the sequential results, in order.

Every engine's fit of every property is one task of :func:`metaquant.workbench.compare.compare_properties`, run by
:func:`metaquant.parallel.run_tasks`.  The fits here take the quadrature and exact engines (``fast=True``), so each
test takes seconds; what differs between runs is only how long a fit took (``time_s``) and whether its process had
compiled the model already.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import warn_and_double

from metaquant import api, parallel
from metaquant.cli import main
from metaquant.evidence.effects import for_property
from metaquant.present import report
from metaquant.progress import collect_warnings
from metaquant.workbench import compare

#: Shipped properties on the quadrature engine (accuracy, gpu_power_draw) and the exact one (dsc: one row).
PROPS = ["accuracy", "gpu_power_draw", "dsc"]
#: Run facts, not results: wall time and whether this process compiled the model.
RUN_FACTS = ("seconds", "time_s", "compiled", "compilations")


def _results(obj):
    """``obj`` without the run facts (:data:`RUN_FACTS`), at any depth."""
    if isinstance(obj, dict):
        return {k: _results(v) for k, v in obj.items() if k not in RUN_FACTS}
    if isinstance(obj, list):
        return [_results(v) for v in obj]
    return obj


def _report_data(tmp_path: Path) -> str:
    """Two properties, four studies with known variances: the exact engine applies everywhere."""
    rows = ["study,property,improvement_pct,improvement_sd,n_units,study_belief,bits,technique"]
    for i, (acc, size, bits) in enumerate([(-1.0, 70.0, 8), (-2.5, 74.0, 8), (-6.0, 86.0, 4), (0.3, 48.0, 16)], 1):
        rows += [f"T{i},accuracy,{acc},2.0,{10 + i},{0.5 + 0.05 * i},{bits},ptq-static",
                 f"T{i},storage_size,{size},3.0,{10 + i},{0.5 + 0.05 * i},{bits},ptq-static"]
    path = tmp_path / "evidence.csv"
    path.write_text("\n".join(rows) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def sequential():
    told = []
    comp = api.compare("ssm2025", PROPS, fast=True, progress=told.append)
    # the comparison is not empty: every engine gave a number on these properties
    assert [r.bayes["engine"] for r in comp] == ["quadrature", "quadrature", "exact"]
    assert all(r.ssm.get("label_code") for r in comp) and comp["accuracy"].frequentist["estimable"]
    return comp, told


def test_warnings_of_worker_processes_reach_the_caller_in_order():
    """A fit's warnings (R-hat, ESS) raised in a worker reach the CLI's collector, not the worker's stderr."""
    with collect_warnings() as got:
        assert parallel.run_tasks([1, 2, 3], jobs=2, fn=warn_and_double) == [2, 4, 6]
    assert [str(w.message) for w in got.warnings] == ["task 1 warned", "task 2 warned", "task 3 warned"]
    assert {w.category for w in got.warnings} == {UserWarning}


def test_property_tasks_are_one_per_engine_in_order():
    t = for_property(api.effect_table("ssm2025"), "dsc")
    tasks = compare.property_tasks(t, fast=True, bias=True)
    assert [task.key for task in tasks] == [("dsc", e) for e in compare.TASK_ENGINES]
    assert tasks[1].options == {"fast": True} and tasks[3].spec.method == "bma"
    with pytest.raises(ValueError, match="unknown engine 'sampler'"):
        compare.execute(compare.Task(("dsc", "sampler"), t))


def test_compare_jobs_2_gives_the_sequential_results_in_order(sequential):
    seq, seq_told = sequential
    told = []
    par = api.compare("ssm2025", PROPS, fast=True, progress=told.append, jobs=2)
    assert [r.property for r in par] == PROPS and told == seq_told == PROPS
    assert _results(par.to_dict()) == _results(seq.to_dict())
    assert par.summary().equals(seq.summary())
    assert par.settings == seq.settings
    assert par["accuracy"].objects["bayes"] is not None  # the result objects come back for plots


def test_compare_on_a_dask_cluster_gives_the_sequential_results(sequential):
    distributed = pytest.importorskip("distributed")
    seq, _ = sequential
    told = []
    with distributed.LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster:
        par = api.compare("ssm2025", PROPS, fast=True, progress=told.append, scheduler=cluster.scheduler_address)
        res = CliRunner().invoke(main, ["compare", "--property", "dsc", "--fast", "--format", "json",
                                        "--scheduler", cluster.scheduler_address])
    assert told == PROPS
    assert _results(par.to_dict()) == _results(seq.to_dict())
    assert res.exit_code == 0, res.output
    assert _results(json.loads(res.output)) == _results([seq["dsc"].to_dict()])


def test_report_comparison_over_2_processes_gives_the_sequential_results(tmp_path):
    table = api.effect_table(_report_data(tmp_path))
    tables = [for_property(table, p) for p in ("accuracy", "storage_size")]
    said = []
    seq = report.compare_all(tables, fast=True)
    par = report.compare_all(tables, fast=True, jobs=2, log=said.append)
    assert [r.property for r in par] == ["accuracy", "storage_size"]
    assert [_results(r.to_dict()) for r in par] == [_results(r.to_dict()) for r in seq]
    assert said == ["comparing engines on 2 properties over 2 processes", "accuracy: engines compared",
                    "storage_size: engines compared"]


def test_report_runs_its_comparison_on_the_dask_cluster(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    data = _report_data(tmp_path)
    table = api.effect_table(data)
    seq = [r.to_dict() for r in report.compare_all([for_property(table, p) for p in ("accuracy", "storage_size")],
                                                   fast=True, settings=report.main_settings(fast=True)[0])]
    calls = []
    real = compare.run_tasks

    def recorded(tasks, **kw):
        calls.append(([t.key for t in tasks], kw["scheduler"]))
        return real(tasks, **kw)

    monkeypatch.setattr(compare, "run_tasks", recorded)
    with distributed.LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster:
        _, par = report.build_report(data, fast=True, scheduler=cluster.scheduler_address)
    keys = [(p, e) for p in ("accuracy", "storage_size") for e in ("ssm", "bayes", "reml")]
    assert calls == [(keys, cluster.scheduler_address)]  # one batch of every comparison, sent to the cluster
    assert _results(par["comparison"]) == _results(seq)
    assert [p["comparison"] for p in _results(par["properties"]).values()] == _results(seq)


@pytest.mark.parametrize("command", [["compare", "--property", "dsc", "--fast"], ["report", "--out", "{out}"]],
                         ids=lambda c: c[0])
def test_an_unreachable_scheduler_is_one_line(command, tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_S", 1)
    out = tmp_path / "report"
    args = [a.format(out=out) for a in command] + ["--scheduler", "tcp://127.0.0.1:1", "--quiet"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    assert res.output.startswith("error: cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'")
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    assert not out.exists()
