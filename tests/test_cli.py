"""Command-line behaviour (click's CliRunner; no subprocess)."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from metaquant.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_data_list_shows_datasets_with_rows_and_sources():
    res = run("data", "list", "--format", "json")
    assert res.exit_code == 0
    d = {x["name"]: x for x in json.loads(res.output)}
    assert d["ssm2025"]["rows"] == 93 and d["ssm2025"]["studies"] == 6
    assert any("bd6a60aa" in s for s in d["ssm2025"]["sources"])


def test_data_show_effects_for_a_property():
    res = run("data", "show", "ssm2025", "--effects", "--property", "storage_size", "--format", "json")
    rows = json.loads(res.output)
    assert len(rows) == 17 and all(r["yi"] > 0 for r in rows)


def test_fit_reml_json_keys_and_missing_vi_policy():
    pytest.importorskip("metaquant.classical.rma")
    res = run("fit", "--property", "accuracy", "--method", "reml")
    assert res.exit_code == 2  # refuses rows without a variance, with a clear message
    res = CliRunner().invoke(
        main, ["fit", "--property", "accuracy", "--method", "reml", "--missing-vi", "drop", "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    for key in (
        "method",
        "test",
        "k",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "tau2",
        "I2",
        "H2",
        "Q",
        "Q_p",
        "pi_low",
        "pi_high",
        "label_code",
    ):
        assert key in d
    assert d["k"] == 4 and d["k_total"] == 17 and "dropped 13" in d["notes"][0]


def test_fit_unknown_property_did_you_mean():
    res = CliRunner().invoke(main, ["fit", "--property", "acurracy", "--method", "reml"])
    assert res.exit_code == 2
    assert "did you mean 'accuracy'" in res.output and "Traceback" not in res.output


def test_fit_needs_a_property():
    res = CliRunner().invoke(main, ["fit"])
    assert res.exit_code == 2 and "--property" in res.output


def test_reml_fit_does_not_import_pymc():
    pytest.importorskip("metaquant.classical.rma")
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from metaquant.cli import main\n"
        "r = CliRunner().invoke(main, ['fit','--property','storage_size','--method','reml','--missing-vi','drop'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('pymc' in sys.modules, 'pytensor' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


def test_fit_moderator_bits_gives_effect_per_bit_width():
    pytest.importorskip("metaquant.classical.rma")
    import numpy as np

    from metaquant import api

    tab = api.effect_table("benchmarks")
    ppl = tab[tab.property == "perplexity"].reset_index(drop=True)
    cat = api.fit(ppl, "perplexity", method="reml", moderators=["bits:cat"], variance_policy="drop").to_dict()
    lin = api.fit(ppl, "perplexity", method="reml", moderators=["bits"], variance_policy="drop").to_dict()
    coef = {c["name"]: c["estimate"] for c in cat["coefficients"]}
    by_level = {p["level"]: p for p in cat["predictions"]}
    # categorical: the prediction at a level is intercept + its dummy (reference = lowest bits)
    ref = min(by_level)
    assert by_level[ref]["pred"] == pytest.approx(coef["intrcpt"])
    assert by_level[4.0]["pred"] == pytest.approx(coef["intrcpt"] + coef["bits[4]"])
    # the raw figures: 2-bit llama.cpp types raise perplexity a lot, 8-bit ones barely
    assert by_level[2.0]["pct"] < -25 and abs(by_level[8.0]["pct"]) < 2
    # numeric bits enter as log2(bits)
    slope = {c["name"]: c["estimate"] for c in lin["coefficients"]}["log2(bits)"]
    p8 = {p["level"]: p["pred"] for p in lin["predictions"]}
    assert p8[8.0] - p8[4.0] == pytest.approx(slope * (np.log2(8) - np.log2(4)))
    res = CliRunner().invoke(
        main,
        [
            "fit",
            "--data",
            "benchmarks",
            "--property",
            "perplexity",
            "--method",
            "reml",
            "--missing-vi",
            "drop",
            "--moderator",
            "bits:cat",
        ],
    )
    assert res.exit_code == 0 and "at bits = 2 (k=15)" in res.output


def test_bayes_meta_regression_reads_each_level_on_the_ssm_scale():
    import numpy as np

    from metaquant import api

    acc = api.effect_table("ssm2025")
    acc = acc[acc.property == "accuracy"].reset_index(drop=True)
    res = api.fit(acc, "accuracy", moderators=["bits"], draws=200, tune=200, chains=2, seed=3, force_mcmc=True)
    preds = {p["level"]: p for p in res.predictions}
    assert sorted(preds) == [2.0, 4.0, 8.0, 16.0, 32.0]
    mu = res.idata.posterior["mu"].values.reshape(-1)
    beta = res.idata.posterior["beta"].values.reshape(mu.size, -1)[:, 0]
    centre = res.data.centres["log2(bits)"]
    for b, p in preds.items():
        draws = mu + beta * (np.log2(b) - centre)
        assert p["mean"] == pytest.approx(draws.mean(), rel=1e-10)
        assert sum(p["zone_probabilities"].values()) == pytest.approx(1.0)
        assert p["k"] == int((acc.bits == b).sum())


def test_fit_exact_out_writes_json_atomically(tmp_path):
    out = tmp_path / "res"
    res = CliRunner().invoke(main, ["fit", "--property", "gpu_power_draw", "--method", "exact", "--out", str(out)])
    assert res.exit_code == 0, res.output
    d = json.loads((out / "gpu_power_draw.json").read_text())
    assert d["method"] == "exact" and d["label_code"]
    again = CliRunner().invoke(main, ["fit", "--property", "gpu_power_draw", "--method", "exact", "--out", str(out)])
    assert again.exit_code == 2 and "not overwritten" in again.output
