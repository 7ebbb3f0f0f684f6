"""``metaquant data import``: lm-evaluation-harness and llama-perplexity result files -> evidence rows.

The fixtures in tests/fixtures/importers/ are written the way the tools write them: two lm-eval 0.4
``results_*.json`` files (``json.dump(..., indent=2)``, with a group, a wikitext task whose stderr is "N/A",
and gsm8k in the quantized file only) whose accuracies are counts k of n samples with lm-eval's stderr
(sample sd with n - 1, over sqrt(n)); and two llama-perplexity logs (40 chunks of n_ctx = 512).
Expected values are worked out by hand from those counts and printed numbers, not by the importer's formulas.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from metaquant.cli import main
from metaquant.errors import DataError, InputError
from metaquant.evidence import io
from metaquant.evidence.effects import compute_effects
from metaquant.evidence.importers import Setting, read_llama_perplexity, read_lm_eval

FIX = Path(__file__).parent / "fixtures" / "importers"
BASE = FIX / "results_2025-03-02T10-14-07.552411.json"
QUANT = FIX / "results_2025-03-02T12-40-51.918230.json"
PPL_F16 = FIX / "llama-3.1-8b-f16.perplexity.txt"
PPL_Q4 = FIX / "llama-3.1-8b-q4_k_m.perplexity.txt"


def _lm_eval(*args, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = read_lm_eval(*args, **kw)
    return rows, [str(w.message) for w in caught]


def _row(rows, task, metric):
    sel = rows[(rows["task"] == task) & (rows["metric"] == metric)]
    assert len(sel) == 1, (task, metric, rows[["task", "metric"]])
    return sel.iloc[0]


# --------------------------------------------------------------------------
# lm-evaluation-harness
# --------------------------------------------------------------------------


def test_lm_eval_one_row_per_task_and_metric_in_both_files():
    rows, said = _lm_eval(BASE, QUANT)
    got = sorted(zip(rows["task"], rows["metric"], strict=True))
    assert got == [
        ("arc_easy", "acc,none"), ("arc_easy", "acc_norm,none"),
        ("hellaswag", "acc,none"), ("hellaswag", "acc_norm,none"),
        ("mmlu_abstract_algebra", "acc,none"), ("mmlu_anatomy", "acc,none"),
        ("wikitext", "word_perplexity,none"),
    ]  # fmt: skip
    # gsm8k is in the quantized file only: left out, named once
    only = [s for s in said if "gsm8k" in s]
    assert len(only) == 1 and "one file only" in only[0] and QUANT.name in only[0]
    # the mmlu group pools its two subtasks, which are imported: the group is not
    assert "mmlu" not in set(rows["task"]) and any(s.startswith("mmlu: group") for s in said)


def test_lm_eval_sd_is_the_sample_sd_of_the_k_of_n_correct_answers():
    rows, _ = _lm_eval(BASE, QUANT)
    r = _row(rows, "arc_easy", "acc,none")
    # baseline: 1812 of 2376 correct; quantized: 1790 of 2376 (the fixture's counts)
    assert r["baseline_mean"] == pytest.approx(1812 / 2376, abs=1e-15)
    assert r["quant_mean"] == pytest.approx(1790 / 2376, abs=1e-15)
    # sample sd of 1812 ones and 564 zeros: sqrt(1812 * 564 / (2376 * 2375)) = 0.4255627665...
    assert r["baseline_sd"] == pytest.approx(0.42556276653575, rel=1e-12)
    assert r["baseline_sd"] == pytest.approx(math.sqrt(1812 * 564 / (2376 * 2375)), rel=1e-12)
    assert r["quant_sd"] == pytest.approx(math.sqrt(1790 * 586 / (2376 * 2375)), rel=1e-12)
    assert r["baseline_n"] == 2376 and r["quant_n"] == 2376 and r["n_eval"] == 2376
    assert r["property"] == "accuracy" and bool(r["higher_is_better"]) is True
    h = _row(rows, "mmlu_abstract_algebra", "acc,none")  # 30 and 27 of 100
    assert h["baseline_sd"] == pytest.approx(math.sqrt(30 * 70 / (100 * 99)), rel=1e-12)
    assert h["quant_sd"] == pytest.approx(math.sqrt(27 * 73 / (100 * 99)), rel=1e-12)


def test_lm_eval_effect_and_variance_by_hand():
    rows, _ = _lm_eval(BASE, QUANT)
    tab = compute_effects(rows)
    tab = tab.assign(task=rows["task"].to_numpy(), metric=rows["metric"].to_numpy())
    r = tab[(tab["task"] == "arc_easy") & (tab["metric"] == "acc,none")].iloc[0]
    # ln(1790/1812) = -0.01221559...; var = (1 - p)/(p (n - 1)) per arm = (564/1812 + 586/1790) / 2375
    assert r["yi"] == pytest.approx(math.log(1790 / 1812), rel=1e-12)
    assert r["yi"] == pytest.approx(-0.0122155878, rel=1e-8)
    assert r["vi"] == pytest.approx((564 / 1812 + 586 / 1790) / 2375, rel=1e-10)
    assert r["vi"] == pytest.approx(2.68896e-4, rel=1e-4)
    w = tab[tab["task"] == "wikitext"].iloc[0]
    # perplexity is lower-is-better: ln(8.7071 / 9.0215); "N/A" stderr -> no known variance
    assert w["yi"] == pytest.approx(math.log(8.7071 / 9.0215), rel=1e-12) and w["yi"] < 0
    assert not bool(w["vi_known"])


def test_lm_eval_na_stderr_kept_without_spread_said_once():
    rows, said = _lm_eval(BASE, QUANT)
    w = _row(rows, "wikitext", "word_perplexity,none")
    assert math.isnan(w["baseline_sd"]) and math.isnan(w["quant_sd"])
    assert w["baseline_n"] == 62 and w["property"] == "perplexity" and bool(w["higher_is_better"]) is False
    assert pd.isna(w.get("n_eval"))  # a perplexity is not a proportion
    na = [s for s in said if '"N/A"' in s]
    assert len(na) == 1 and "wikitext/word_perplexity" in na[0] and "without a spread" in na[0]
    # byte_perplexity and bits_per_byte re-express the same log-likelihood: left out, with the reason
    assert any("bits_per_byte" in s and "twice" in s for s in said)


def test_lm_eval_model_precision_and_options():
    rows, _ = _lm_eval(BASE, QUANT, Setting(study="my-a100-runs", hardware="NVIDIA A100", act_bits=16))
    r = rows.iloc[0]
    assert r["model"] == "meta-llama/Llama-2-7b-hf" and r["baseline_precision"] == "fp16"
    assert r["quant_precision"] == "bnb-4bit" and r["bits"] == 4 and r["technique"] == "weight-only"
    assert r["study"] == "my-a100-runs" and r["hardware"] == "NVIDIA A100" and r["act_bits"] == 16
    rows, _ = _lm_eval(BASE, QUANT, Setting(bits=3, technique="ptq-static"))
    assert set(rows["quant_precision"]) == {"w3"} and set(rows["bits"]) == {3}
    assert set(rows["technique"]) == {"ptq-static"}
    assert rows["study"].iloc[0] == "lm-eval meta-llama/Llama-2-7b-hf"


def test_lm_eval_rows_validate_and_share_baseline_groups_across_imports(tmp_path):
    rows, _ = _lm_eval(BASE, QUANT)
    io.validate(rows, "imported")  # raises on any problem
    other = tmp_path / "results_other_quant.json"
    shutil.copy(QUANT, other)
    again, _ = _lm_eval(BASE, other, Setting(bits=8))
    assert list(again["baseline_group"]) == list(rows["baseline_group"])  # same baseline file, task and metric
    assert rows["baseline_group"].nunique() == len(rows)


def test_lm_eval_direction_that_contradicts_the_registry_is_an_error(tmp_path):
    doc = json.loads(QUANT.read_text())
    doc["higher_is_better"]["arc_easy"]["acc"] = False
    bad = tmp_path / "flipped.json"
    bad.write_text(json.dumps(doc, indent=2))
    with pytest.raises(DataError) as exc, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read_lm_eval(BASE, bad)
    msg = str(exc.value)
    assert msg.startswith(f"{bad}: task 'arc_easy', metric 'acc': higher_is_better is false")
    assert "'accuracy' is higher-is-better" in msg and "\n" not in msg


def test_lm_eval_map_takes_a_metric_the_importer_leaves_out():
    rows, said = _lm_eval(BASE, QUANT, metric_map={"byte_perplexity": "perplexity"})
    b = _row(rows, "wikitext", "byte_perplexity,none")
    assert b["baseline_mean"] == 1.5013 and b["quant_mean"] == 1.5106 and b["property"] == "perplexity"
    with pytest.raises(InputError, match="unknown property 'acuracy'"):
        read_lm_eval(BASE, QUANT, metric_map={"mcc": "acuracy"})


def test_lm_eval_files_that_cannot_be_compared(tmp_path):
    only = tmp_path / "only_gsm8k.json"
    doc = json.loads(QUANT.read_text())
    doc["results"] = {"gsm8k": doc["results"]["gsm8k"]}
    doc["group_subtasks"] = {"gsm8k": []}
    only.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="no task appears in both files"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read_lm_eval(BASE, only)
    broken = tmp_path / "broken.json"
    broken.write_text('{"results": {')
    with pytest.raises(InputError, match=r"broken.json: is not JSON"):
        read_lm_eval(BASE, broken)
    table = tmp_path / "table.json"
    table.write_text("[1, 2]")
    with pytest.raises(InputError, match="has no 'results' object"):
        read_lm_eval(table, QUANT)
    with pytest.raises(InputError, match="missing.json: file not found"):
        read_lm_eval(tmp_path / "missing.json", QUANT)


def test_lm_eval_zero_accuracy_cannot_form_a_ratio(tmp_path):
    doc = json.loads(QUANT.read_text())
    doc["results"]["mmlu_anatomy"]["acc,none"] = 0.0
    doc["results"]["mmlu_anatomy"]["acc_stderr,none"] = 0.0
    zero = tmp_path / "zero.json"
    zero.write_text(json.dumps(doc))
    rows, said = _lm_eval(BASE, zero)
    assert "mmlu_anatomy" not in set(rows["task"])
    assert any("mmlu_anatomy/acc,none" in s and "ratio is undefined" in s for s in said)


# --------------------------------------------------------------------------
# llama.cpp perplexity
# --------------------------------------------------------------------------


def test_llama_perplexity_row_by_hand():
    rows = read_llama_perplexity(PPL_F16, PPL_Q4, Setting(task="wikitext-2"))
    assert len(rows) == 1
    r = rows.iloc[0]
    # "Final estimate: PPL = 6.2330 +/- 0.15428" and "= 6.4581 +/- 0.16034"; 40 chunks, n_ctx=512:
    # each chunk scores 512 - 1 - 256 = 255 tokens, 10200 in all
    assert r["baseline_mean"] == 6.2330 and r["quant_mean"] == 6.4581
    assert r["baseline_n"] == 10200 and r["quant_n"] == 10200
    # sd / sqrt(n) is the printed standard error: 0.15428 * sqrt(10200) = 15.58151...
    assert r["baseline_sd"] == pytest.approx(15.5815162189, rel=1e-10)
    assert r["quant_sd"] == pytest.approx(0.16034 * 100.99504938362078, rel=1e-12)
    assert r["property"] == "perplexity" and r["task"] == "wikitext-2"
    assert r["model"] == "Meta Llama 3.1 8B" and r["baseline_precision"] == "f16"
    assert r["quant_precision"] == "q4_k_m" and r["bits"] == 4 and r["technique"] == "weight-only"
    assert r["x_params"] == 8.03e9
    assert "40 chunks of 512 tokens" in r["notes"]
    tab = compute_effects(rows)
    # log ratio ln(6.2330 / 6.4581) = -0.0354774...; variance (0.15428/6.2330)^2 + (0.16034/6.4581)^2
    assert tab["yi"].iloc[0] == pytest.approx(-0.0354773991, rel=1e-8)
    assert tab["vi"].iloc[0] == pytest.approx((0.15428 / 6.2330) ** 2 + (0.16034 / 6.4581) ** 2, rel=1e-10)
    assert tab["vi"].iloc[0] == pytest.approx(1.22908e-3, rel=1e-4)


def test_llama_perplexity_without_the_chunks_line_keeps_the_value_without_spread(tmp_path):
    short = tmp_path / "final_line_only.txt"
    short.write_text("Final estimate: PPL = 6.4581 +/- 0.16034\n")
    with pytest.warns(UserWarning, match="final_line_only.txt: no line 'calculating perplexity over N chunks"):
        rows = read_llama_perplexity(PPL_F16, short, Setting(bits=4))
    r = rows.iloc[0]
    assert math.isnan(r["quant_sd"]) and r["baseline_sd"] > 0 and r["bits"] == 4 and r["quant_precision"] == "w4"
    io.validate(rows, "imported")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("perplexity: calculating perplexity over 4 chunks, n_ctx=512\n[1]5.1,[2]5.2,\n",
         "no line 'Final estimate: PPL = X +/- Y'"),
        ("[1]5.1,\nUnexpected negative standard deviation of log(prob)\n",
         "Unexpected negative standard deviation"),
        ("Final estimate: PPL = 6.1 +/- 0.1\nFinal estimate: PPL = 6.2 +/- 0.1\n", "has 2 'Final estimate' lines"),
        ("Final estimate: PPL = nan +/- 0.1\n", "is not a positive perplexity"),
        ("Final estimate: PPL = 6.1x +/- 0.1\n", "is not two numbers"),
    ],
)  # fmt: skip
def test_llama_perplexity_bad_outputs_are_one_line(tmp_path, text, message):
    bad = tmp_path / "run.txt"
    bad.write_text(text)
    with pytest.raises(InputError) as exc:
        read_llama_perplexity(PPL_F16, bad)
    assert str(exc.value).startswith(f"{bad}: ") and message in str(exc.value) and "\n" not in str(exc.value)


# --------------------------------------------------------------------------
# The CLI: writing, refusing to overwrite, validating, pooling with the shipped data
# --------------------------------------------------------------------------


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_imports_validate_and_pool_with_shipped_data(tmp_path):
    lm, ppl = tmp_path / "lm.csv", tmp_path / "ppl.csv"
    res = _cli("data", "import", "lm-eval", BASE, QUANT, "--out", lm, "--hardware", "NVIDIA A100")
    assert res.exit_code == 0, res.output
    assert f"wrote {lm}: 7 rows (accuracy 6, perplexity 1); 6 with a spread" in res.output
    assert "warning: " in res.output and "gsm8k" in res.output
    res = _cli("data", "import", "llama-perplexity", PPL_F16, PPL_Q4, "--out", ppl, "--task", "wikitext-2")
    assert res.exit_code == 0, res.output
    res = _cli("data", "validate", lm, ppl)
    assert res.exit_code == 0 and f"{lm}: ok, 7 rows" in res.output and f"{ppl}: ok, 1 row," in res.output
    res = _cli("fit", "--data", lm, "--data", "ssm2025", "--property", "accuracy", "--method", "reml",
               "--missing-vi", "drop", "--format", "json")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["k"] == 6 + 4  # the 6 imported accuracies and ssm2025's 4 with a variance


def test_cli_never_overwrites_without_force_and_never_an_input(tmp_path):
    out = tmp_path / "ppl.csv"
    out.write_text("keep me\n")
    res = _cli("data", "import", "llama-perplexity", PPL_F16, PPL_Q4, "--out", out)
    assert res.exit_code == 2 and "exists already; not overwritten" in res.output
    assert out.read_text() == "keep me\n"
    res = _cli("data", "import", "llama-perplexity", PPL_F16, PPL_Q4, "--out", out, "--force")
    assert res.exit_code == 0 and out.read_text().startswith("study,")
    q = tmp_path / "q.txt"
    shutil.copy(PPL_Q4, q)
    before = q.read_bytes()
    res = _cli("data", "import", "llama-perplexity", PPL_F16, q, "--out", q, "--force")
    assert res.exit_code == 2 and "is an input file" in res.output and q.read_bytes() == before


def test_cli_bad_option_and_bad_file_are_one_line(tmp_path):
    res = _cli("data", "import", "lm-eval", BASE, QUANT, "--out", tmp_path / "x.csv", "--bits", "0")
    assert res.exit_code == 2 and "--bits" in res.output
    res = _cli("data", "import", "lm-eval", BASE, QUANT, "--out", tmp_path / "x.csv", "--map", "mcc")
    assert res.exit_code == 2 and "METRIC=PROPERTY" in res.output
    res = _cli("data", "import", "lm-eval", BASE, PPL_Q4, "--out", tmp_path / "x.csv")
    assert res.exit_code == 2 and "is not JSON" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x.csv").exists()


def test_lm_eval_unmapped_metric_and_unequal_samples_are_said(tmp_path):
    doc = json.loads(QUANT.read_text())
    doc["results"]["arc_easy"]["mcc,none"] = 0.41  # a correlation: no property, left out
    doc["n-samples"]["hellaswag"]["effective"] = 1000  # --limit 1000 on the quantized run only
    doc["config"]["model_args"] = {"pretrained": "meta-llama/Llama-2-7b-hf", "load_in_4bit": True}  # Python API
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc, indent=2))
    base = json.loads(BASE.read_text())
    base["results"]["arc_easy"]["mcc,none"] = 0.44
    b = tmp_path / "base.json"
    b.write_text(json.dumps(base, indent=2))
    rows, said = _lm_eval(b, edited, Setting(bits=4, act_bits=8))
    assert any(s.startswith("mcc: no metaquant property") for s in said)
    assert any(s.startswith("hellaswag: the two runs evaluated different numbers of samples") for s in said)
    h = _row(rows, "hellaswag", "acc,none")
    assert h["baseline_n"] == 10042 and h["quant_n"] == 1000 and pd.isna(h["n_eval"])
    assert set(rows["quant_precision"]) == {"w4a8"} and set(rows["act_bits"]) == {8}
    assert set(rows["technique"]) == {"weight-only"}  # load_in_4bit read from a dict of model_args
