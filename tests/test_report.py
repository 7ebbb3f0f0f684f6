"""metaquant.present.report: one self-contained HTML page plus report.json, written atomically."""

import base64
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import bayes_ready as _bayes_ready

import metaquant as mq
from metaquant.cli import main
from metaquant.errors import InputError
from metaquant.present import report

CHROMIUM = "/usr/bin/chromium"


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.tags, self.ids, self.scripts = [], [], set(), 0
        self.external = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.imgs.append(a)
        if tag == "script":
            self.scripts += 1
            if a.get("src"):
                self.external.append(a["src"])
        if tag == "link" and a.get("href"):
            self.external.append(a["href"])


def _data(tmp_path):
    """Two properties, one row per study with known variances: the exact engine applies everywhere."""
    rows = []
    for i, (acc, size, bits) in enumerate([(-1.0, 70.0, 8), (-2.5, 74.0, 8), (-6.0, 86.0, 4), (0.3, 48.0, 16)], 1):
        for prop, pct, sd in (("accuracy", acc, 2.0), ("storage_size", size, 3.0)):
            rows.append({"study": f"T{i}", "property": prop, "improvement_pct": pct, "improvement_sd": sd,
                         "n_units": 10 + i, "study_belief": 0.5 + 0.05 * i, "bits": bits, "technique": "ptq-static"})
    path = tmp_path / "evidence.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    _bayes_ready()
    tmp = tmp_path_factory.mktemp("rep")
    data = _data(tmp)
    out = tmp / "report"
    report.write_report(out, data, fast=True)
    return out, data


def test_report_html_parses_and_every_figure_is_embedded(built):
    out, _ = built
    assert sorted(p.name for p in out.iterdir()) == [".metaquant-manifest.json", "report.csv", "report.html",
                                                     "report.json"]
    page = (out / "report.html").read_text(encoding="utf-8")
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    p = _Collector()
    p.feed(page)
    p.close()
    assert p.tags[0] == "html" and p.external == []  # self-contained
    expected = sum(len(sec["figures"]) for sec in doc["properties"].values())
    assert expected == len(p.imgs) >= 6
    for img in p.imgs:
        src = img["src"]
        assert src.startswith("data:image/png;base64,")
        raw = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 2000
        assert img.get("alt")
    assert {"accuracy", "storage_size", "comparison"} <= p.ids


def test_report_json_holds_every_number(built):
    out, _ = built
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [c["property"] for c in doc["comparison"]] == ["accuracy", "storage_size"]
    acc = doc["properties"]["accuracy"]
    c = acc["comparison"]
    assert c["bayes"]["engine"] == "exact"
    assert c["ssm"]["label_code"] and c["bayes"]["label_code"] and c["frequentist"]["label_code"]
    assert c["agreement"]["status"] in ("same", "adjacent", "conflicting")
    assert {"loo", "thresholds", "belief"} <= set(acc["sensitivity"])
    loo = acc["sensitivity"]["loo"]
    assert len(loo["rows"]) == 4 * 3  # 4 studies left out x 3 engines
    thr = acc["sensitivity"]["thresholds"]
    x1 = [r for r in thr["rows"] if r["factor"] == 1.0]
    assert {r["engine"]: r["label_code"] for r in x1} == {
        "ssm": c["ssm"]["label_code"], "bayes": c["bayes"]["label_code"], "reml": c["frequentist"]["label_code"]}
    assert acc["bits_regression"]["estimable"] is True
    page = (out / "report.html").read_text(encoding="utf-8")
    # the numbers in the table are those of the JSON
    assert f"{c['bayes']['pct']:+.2f}" in page and f"{c['frequentist']['pct']:+.2f}" in page


def test_leave_one_study_out_table_per_property_holds_the_sweeps_numbers(built):
    """Each property's section has the leave-one-study-out table: one row per study left out and engine, its %."""
    out, _ = built
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    page = (out / "report.html").read_text(encoding="utf-8")
    for prop, sec in doc["properties"].items():
        part = page.split(f"<h2 id='{prop}'>", 1)[1].split("<h2", 1)[0]
        table = part.split("<h3>Leave one study out</h3>", 1)[1].split("<h3>", 1)[0]
        rows = sec["sensitivity"]["loo"]["rows"]
        body = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1])
        assert len(body) == len(rows) == 4 * 3
        assert {r["engine"] for r in rows} == {"ssm", "bayes", "reml"}
        assert {r["scenario"] for r in rows} == {f"without T{i}" for i in range(1, 5)}
        assert {r["k"] for r in rows if r["engine"] == "reml"} == {3}
        for r, tr in zip(rows, body, strict=True):
            cells = re.findall(r"<td[^>]*>(.*?)</td>", tr)
            assert cells[0] == r["scenario"] and cells[1] == r["engine"]
            if r.get("pct") is not None:
                assert cells[5] == f"{r['pct']:+.2f}"


def test_existing_report_is_not_overwritten_without_force(built, tmp_path):
    out, data = built
    target = tmp_path / "r"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        report.write_report(target, data, fast=True)
    assert (target / "keep.txt").read_text() == "mine"
    shutil.copytree(out, tmp_path / "copy")
    res = CliRunner().invoke(main, ["report", "--out", str(target), "--data", data, "--fast", "--quiet", "--force"])
    assert res.exit_code == 2 and "did not write (keep.txt)" in res.output  # --force never removes a user's file
    assert (target / "keep.txt").read_text() == "mine"
    (target / "keep.txt").unlink()
    res = CliRunner().invoke(main, ["report", "--out", str(target), "--data", data, "--fast", "--quiet", "--force"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in target.iterdir()) == [".metaquant-manifest.json", "report.csv", "report.html",
                                                        "report.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left behind


def test_a_failed_build_leaves_nothing(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise InputError("simulated failure")

    monkeypatch.setattr(report, "build_report", boom)
    with pytest.raises(InputError):
        report.write_report(tmp_path / "never", "ssm2025")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.browser
def test_report_images_load_in_headless_chromium(built):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed")
    out, _ = built
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--virtual-time-budget=10000", "--dump-dom", (out / "report.html").resolve().as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    body = re.search(r"<body[^>]*>", res.stdout).group(0)
    total = int(re.search(r'data-images-total="(\d+)"', body).group(1))
    loaded = int(re.search(r'data-images-loaded="(\d+)"', body).group(1))
    assert total >= 6 and loaded == total
    assert 'data-images-ok="yes"' in body


@pytest.mark.slow
def test_full_report_on_the_shipped_data(tmp_path):
    _bayes_ready()
    out = tmp_path / "ssm2025"
    res = CliRunner().invoke(main, ["report", "--out", str(out), "--fast", "--quiet"])
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "report.json").read_text())
    tab = mq.compute_effects(mq.load("ssm2025"))
    assert set(doc["properties"]) == set(tab["property"])
    assert doc["properties"]["f1_score"]["comparison"]["frequentist"]["estimable"] is False
