"""Evidence rows from the result files of other tools (``metaquant data import``).

Each reader turns a *baseline* and a *quantized* result file of one tool into
measurement rows (``docs/data-format.md``, "Importing results from other
tools"): one row per quantity both files report, with the spread the tool
states, the direction checked against the property registry, and what the
files say of the model and its precision.  What the files do not say (bits,
activation bits, technique, hardware, study) comes from the caller.

Problems with a file are one-line :class:`~metaquant.errors.InputError`\\ s
naming the file (and the task or metric); what is left out, or kept without a
spread, is said once as a :class:`UserWarning` (the CLI prints ``warning: ...``).
The rows returned pass :func:`metaquant.evidence.io.validate`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import DataError, InputError, UsageError
from . import schema

#: lm-evaluation-harness metric name -> metaquant property.  Metrics not listed (and not mapped by the
#: caller) are left out with a warning: their scale is not one of the registry's (``mcc`` and ``bleu_diff``
#: can be negative, so a ratio is undefined).
LM_EVAL_METRICS: dict[str, str] = {
    "acc": "accuracy",
    "acc_norm": "accuracy",
    "exact_match": "accuracy",
    "em": "accuracy",
    "mc1": "accuracy",
    "mc2": "accuracy",
    "pass@1": "accuracy",
    "prompt_level_strict_acc": "accuracy",
    "inst_level_strict_acc": "accuracy",
    "prompt_level_loose_acc": "accuracy",
    "inst_level_loose_acc": "accuracy",
    "f1": "f1_score",
    "bleu": "bleu",
    "perplexity": "perplexity",
    "word_perplexity": "perplexity",
}

#: Metrics left out on purpose, with the reason said once.
#: wikitext's three metrics are one total log-likelihood divided by words or by bytes: word_perplexity is
#: imported, the other two would count the same run twice (``--map byte_perplexity=perplexity`` takes it instead).
LM_EVAL_SKIPPED: dict[str, str] = {
    "byte_perplexity": "byte_perplexity and bits_per_byte left out: they re-express the log-likelihood that "
    "word_perplexity (imported as perplexity) already carries, and would count the same run twice",
    "bits_per_byte": "byte_perplexity and bits_per_byte left out: they re-express the log-likelihood that "
    "word_perplexity (imported as perplexity) already carries, and would count the same run twice",
}

#: Metrics that are proportions of the evaluated samples (their ``n_eval`` is recorded).
_PROPORTIONS = frozenset(
    {"acc", "acc_norm", "exact_match", "em", "mc1", "pass@1", "prompt_level_strict_acc", "inst_level_strict_acc",
     "prompt_level_loose_acc", "inst_level_loose_acc"}
)  # fmt: skip

#: lm-evaluation-harness dtype names -> the precision names of the shipped data.
_DTYPES = {"float16": "fp16", "half": "fp16", "fp16": "fp16", "bfloat16": "bf16", "bf16": "bf16",
           "float32": "fp32", "float": "fp32", "fp32": "fp32"}  # fmt: skip


@dataclass(frozen=True)
class Setting:
    """What the result files do not say, given by the caller (``--bits``, ``--study``, ...).

    Attributes
    ----------
    study : str, optional
        Study name of every row; by default one derived from the model and the tool.
    bits, act_bits : float, optional
        Weight and activation bits of the quantized model (> 0).
    technique, hardware, task : str, optional
        Descriptors written on every row (``task``: llama-perplexity only; lm-eval names its tasks).
    """

    study: str | None = None
    bits: float | None = None
    act_bits: float | None = None
    technique: str | None = None
    hardware: str | None = None
    task: str | None = None

    def check(self) -> Setting:
        """Refuse a bit-width that is not a positive finite number, or an empty name."""
        for name in ("bits", "act_bits"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, int | float) and math.isfinite(v) and 0 < v <= 64):
                raise UsageError(f"{v!r} is not a bit-width", argument=name, expected="a number in (0, 64]")
        for name in ("study", "technique", "hardware", "task"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v.strip()):
                raise UsageError(f"{v!r} is empty or not text", argument=name, expected="a non-empty name")
        return self


# --------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------


def _read_text(path, argument: str) -> tuple[str, str, bytes]:
    """(label, text, raw bytes) of one input file; a missing, unreadable or non-UTF-8 file is one clear line."""
    if not isinstance(path, str | os.PathLike):
        raise UsageError(f"is a {type(path).__name__}", argument=argument, expected="a file path")
    p, label = Path(path), os.fspath(path)
    if not p.exists():
        raise InputError("file not found", path=label)
    if p.is_dir():
        raise InputError("is a folder, not a result file", path=label)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror or type(exc).__name__})", path=label) from None
    if not raw.strip():
        raise InputError("the file is empty", path=label, expected="the result file the tool wrote")
    try:
        return label, raw.decode("utf-8-sig"), raw
    except UnicodeDecodeError as exc:
        raise InputError(f"byte 0x{raw[exc.start:exc.start + 1].hex()} at offset {exc.start} is not UTF-8 text",
                         path=label, expected="the text file the tool wrote") from None


def _base_row(setting: Setting, *, study: str, model: str | None, baseline_precision: str | None,
              quant_precision: str, bits: float | None, technique: str | None) -> dict:
    """Columns shared by every row of one import."""
    return {
        "study": setting.study or study,
        "comparison": f"{model or 'model'}|{quant_precision}",
        "model": model,
        "hardware": setting.hardware,
        "technique": setting.technique or technique,
        "baseline_precision": baseline_precision,
        "quant_precision": quant_precision,
        "bits": setting.bits if setting.bits is not None else bits,
        "act_bits": setting.act_bits,
    }


def _frame(rows: list[dict]) -> pd.DataFrame:
    """The rows as a table without the descriptive columns that no row fills (the value columns stay)."""
    df = pd.DataFrame(rows)
    for c in schema.MEASUREMENT_VALUE_COLUMNS + schema.NUMERIC_MODERATORS + ("n_eval",):
        if c in df.columns:
            df[c] = pd.to_numeric(df[c].astype(object).where(df[c].notna(), None), errors="raise").astype(float)
    for c in ("baseline_n", "quant_n", "n_eval"):  # counts print as counts (2376, not 2376.0)
        if c in df.columns:
            df[c] = df[c].astype("Int64")
    empty = [c for c in df.columns if df[c].isna().all() and c not in schema.MEASUREMENT_VALUE_COLUMNS]
    return df.drop(columns=empty)


def _precision_name(bits: float | None, act_bits: float | None) -> str | None:
    if bits is None:
        return None
    return f"w{bits:g}" + (f"a{act_bits:g}" if act_bits is not None else "")


# --------------------------------------------------------------------------
# lm-evaluation-harness
# --------------------------------------------------------------------------


def _load_lm_eval(path) -> tuple[str, dict, bytes]:
    label, text, raw = _read_text(path, "baseline/quantized")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"is not JSON ({exc.msg} at line {exc.lineno})", path=label,
                         expected="an lm-evaluation-harness results_*.json file") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict) or not doc["results"]:
        raise InputError("has no 'results' object", path=label,
                         expected="an lm-evaluation-harness 0.4 results_*.json file (results, n-samples, config)")
    return label, doc, raw


def _model_args(doc: dict) -> dict:
    """``config.model_args`` as a dict (the CLI writes ``key=value,key=value``; the Python API may give a dict)."""
    args = (doc.get("config") or {}).get("model_args")
    if isinstance(args, dict):
        return {str(k): str(v) for k, v in args.items()}
    out = {}
    for part in str(args or "").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _lm_eval_model(doc: dict) -> str | None:
    args = _model_args(doc)
    for key in ("pretrained", "model", "path", "model_name"):
        if args.get(key):
            return args[key]
    name = doc.get("model_name") or (doc.get("config") or {}).get("model")
    return str(name) if name else None


def _lm_eval_quant(doc: dict) -> tuple[str | None, float | None]:
    """(precision name, weight bits) that the quantized run's ``model_args`` state, if any.

    bitsandbytes (``load_in_4bit=True``, ``load_in_8bit=True``) quantizes weights only.
    """
    args = {k: v.lower() for k, v in _model_args(doc).items()}
    if args.get("load_in_4bit") == "true":
        return "bnb-4bit", 4.0
    if args.get("load_in_8bit") == "true":
        return "bnb-int8", 8.0
    for key in ("bits", "wbits", "w_bit"):
        if re.fullmatch(r"\d+(\.\d+)?", args.get(key, "")):
            return None, float(args[key])
    return None, None


def _groups(doc: dict) -> set[str]:
    """Names in ``results`` that aggregate other tasks (``group_subtasks`` with subtasks)."""
    subs = doc.get("group_subtasks") or {}
    return {g for g, tasks in subs.items() if tasks}


def _metrics(entry: dict) -> dict[str, tuple[str, str]]:
    """``"acc,none"`` -> (metric, filter) for the value keys of one task (stderr and alias left aside)."""
    out = {}
    for key in entry:
        if "," not in key:
            continue
        metric, filt = key.split(",", 1)
        if not metric.endswith("_stderr"):
            out[key] = (metric, filt)
    return out


def _n_samples(doc: dict, task: str) -> int | None:
    ns = (doc.get("n-samples") or {}).get(task) or {}
    n = ns.get("effective", ns.get("original"))
    return int(n) if isinstance(n, int | float) and not isinstance(n, bool) and n >= 1 and n == int(n) else None


def _number(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _direction(docs, labels, task: str, metric: str, prop: schema.Property) -> bool:
    """The file's ``higher_is_better`` for the metric, which must agree with the registry (and between files)."""
    for doc, label in zip(docs, labels, strict=True):
        hib = ((doc.get("higher_is_better") or {}).get(task) or {}).get(metric)
        if hib is not None and bool(hib) != prop.higher_is_better:
            raise DataError(
                f"task {task!r}, metric {metric!r}: higher_is_better is {str(bool(hib)).lower()}, but metaquant's "
                f"property {prop.name!r} is {'higher' if prop.higher_is_better else 'lower'}-is-better",
                path=label,
                expected="a metric whose direction matches its property (map it with --map METRIC=PROPERTY)",
            )  # fmt: skip
    return prop.higher_is_better


class _Notes:
    """What an import leaves out or keeps without a spread, said once per kind."""

    def __init__(self):
        self.items: dict[str, list[str]] = {}

    def add(self, kind: str, what: str) -> None:
        self.items.setdefault(kind, [])
        if what not in self.items[kind]:
            self.items[kind].append(what)

    def warn(self, texts: dict[str, str]) -> None:
        for kind, whats in self.items.items():
            shown = ", ".join(whats[:12]) + (f" and {len(whats) - 12} more" if len(whats) > 12 else "")
            warnings.warn(texts[kind].format(what=shown, n=len(whats)), UserWarning, stacklevel=3)


_LM_EVAL_NOTES = {
    "only": "{what}: in one file only; left out (each row needs the task in both files)",
    "group": "{what}: group score(s) left out: they pool their subtasks, which are imported one by one",
    "na": "{n} metric(s) have stderr \"N/A\" ({what}); kept without a spread (their sampling variance is unknown)",
    "unmapped": "{what}: no metaquant property for these metrics; left out (map one with --map METRIC=PROPERTY)",
    "skipped": "{what}",
    "value": "{what}: the value is missing, not a number or not positive, so a ratio is undefined; left out",
    "n": "{what}: the two runs evaluated different numbers of samples (n-samples); compare like with like",
    "shot": "{what}: the two runs used different few-shot settings (n-shot) or task versions",
}


def _metric_property(metric: str, mapping: dict[str, str], notes: _Notes) -> schema.Property | None:
    if metric in mapping:
        return schema.get_property(mapping[metric])
    if metric in LM_EVAL_SKIPPED:
        notes.add("skipped", LM_EVAL_SKIPPED[metric])
        return None
    if metric in LM_EVAL_METRICS:
        return schema.get_property(LM_EVAL_METRICS[metric])
    notes.add("unmapped", metric)
    return None


def _arm(doc: dict, task: str, key: str, metric: str, n: int | None, notes: _Notes) -> tuple[float, float | None]:
    """(mean, sd) of one metric in one file: sd = stderr * sqrt(n), none for "N/A" or a single sample."""
    entry = doc["results"][task]
    mean = _number(entry.get(key))
    err_key = f"{metric}_stderr,{key.split(',', 1)[1]}"
    raw = entry.get(err_key)
    err = _number(raw)
    if raw == "N/A" or (raw is not None and err is None):
        notes.add("na", f"{task}/{metric}")
    if err is None or n is None or n < 2 or err < 0:
        return mean, None
    return mean, err * math.sqrt(n)


def _lm_eval_task_rows(docs, labels, task, base, mapping, notes, group_id) -> list[dict]:
    """The rows of one task present in both files."""
    b_doc, q_doc = docs
    nb, nq = _n_samples(b_doc, task), _n_samples(q_doc, task)
    if nb is not None and nq is not None and nb != nq:
        notes.add("n", task)
    shots = [(d.get("n-shot") or {}).get(task) for d in docs] + [(d.get("versions") or {}).get(task) for d in docs]
    if shots[0] != shots[1] or shots[2] != shots[3]:
        notes.add("shot", task)
    b_metrics, q_metrics = _metrics(b_doc["results"][task]), _metrics(q_doc["results"][task])
    for key in sorted(set(b_metrics) ^ set(q_metrics)):
        notes.add("only", f"{task}/{key}")
    rows = []
    for key in [k for k in b_metrics if k in q_metrics]:
        metric = b_metrics[key][0]
        prop = _metric_property(metric, mapping, notes)
        if prop is None:
            continue
        hib = _direction(docs, labels, task, metric, prop)
        (bm, bsd), (qm, qsd) = _arm(b_doc, task, key, metric, nb, notes), _arm(q_doc, task, key, metric, nq, notes)
        if bm is None or qm is None or bm <= 0 or qm <= 0:
            notes.add("value", f"{task}/{key}")
            continue
        n_eval = nb if metric in _PROPORTIONS and nb is not None and nb == nq else None
        rows.append({**base, "property": prop.name, "task": task, "metric": key, "higher_is_better": hib,
                     "baseline_mean": bm, "baseline_sd": bsd, "baseline_n": nb, "quant_mean": qm, "quant_sd": qsd,
                     "quant_n": nq, "n_eval": n_eval, "baseline_group": f"{group_id}|{task}|{key}",
                     "x_n_shot": (b_doc.get("n-shot") or {}).get(task)})  # fmt: skip
    return rows


def read_lm_eval(baseline, quantized, setting: Setting | None = None, *,
                 metric_map: dict[str, str] | None = None) -> pd.DataFrame:
    """Measurement rows from two lm-evaluation-harness 0.4 results files.

    The format (``results_<date>.json``, written by ``lm_eval --output_path``;
    read from EleutherAI/lm-evaluation-harness ``lm_eval/evaluator.py`` at
    5b321a1ad92f126671533121783340dc59e1b173 and ``lm_eval/evaluator_utils.py``
    at 0064c3a03e5fe863a1ffde689bdb216c97d8c5f1, and the results file
    ``tests/models/results_deleteme/.../results_2025-01-21T00-40-03.356274.json``
    at 7be00f3b3bfb51237dcb723f75d28802649f001a)::

        {"results": {TASK: {"alias": ..., "acc,none": 0.76, "acc_stderr,none": 0.0087, ...}},
         "group_subtasks": {GROUP: [TASK, ...], TASK: []},
         "versions": {TASK: 1.0}, "n-shot": {TASK: 0},
         "higher_is_better": {TASK: {"acc": true}},
         "n-samples": {TASK: {"original": N, "effective": N}},
         "config": {"model": "hf", "model_args": "pretrained=NAME,dtype=float16", ...}, ...}

    A value key is ``METRIC,FILTER``; its standard error is ``METRIC_stderr,FILTER``, the
    sample standard deviation over the ``n`` evaluated samples divided by sqrt(n), or the
    string ``"N/A"`` where the harness computes none (one sample; metrics without a stderr
    function, such as wikitext's perplexities).  ``n`` is ``n-samples[TASK].effective``
    (``--limit`` applied).  Groups (``group_subtasks`` with subtasks) have no ``n-samples``.

    Every task x metric present in both files becomes one row: ``baseline_mean`` and
    ``quant_mean`` the values, ``*_sd = stderr * sqrt(n)`` (so that ``sd / sqrt(n)`` is the
    stated standard error) and ``*_n = n``; "N/A" keeps the row without a spread.  The
    property comes from :data:`LM_EVAL_METRICS` (or ``metric_map``) and its direction
    must agree with the file's ``higher_is_better``.  ``model`` is ``pretrained=`` of the
    baseline's ``model_args``, ``baseline_precision`` its ``dtype``.  Rows that share one
    baseline measurement carry one ``baseline_group`` (a digest of the baseline file, the
    task and the metric), so imports of several quantized runs against the same baseline
    file are known to be correlated.

    Parameters
    ----------
    baseline, quantized : path
        The results files of the unquantized and the quantized model.
    setting : Setting, optional
        Bits, activation bits, technique, hardware and study, which the files do not state.
    metric_map : dict, optional
        Extra ``metric -> property`` pairs (e.g. ``{"mcc": "accuracy"}``), checked against the registry.

    Returns
    -------
    pandas.DataFrame
        Measurement rows (``docs/data-format.md``), one per task x metric.

    Raises
    ------
    InputError
        A file that is missing, not JSON, without ``results``; no task in both files; a
        direction that contradicts the registry.

    Warns
    -----
    UserWarning
        Once per kind: tasks or metrics in one file only, groups, "N/A" stderr, metrics
        without a property, values that cannot form a ratio, runs that differ in n-samples.
    """
    setting = (setting or Setting()).check()
    mapping = {str(k): schema.get_property(v).name for k, v in (metric_map or {}).items()}
    (lb, bdoc, braw), (lq, qdoc, _) = _load_lm_eval(baseline), _load_lm_eval(quantized)
    notes, groups = _Notes(), _groups(bdoc) | _groups(qdoc)
    b_tasks, q_tasks = [t for t in bdoc["results"] if t not in groups], [t for t in qdoc["results"] if t not in groups]
    for t in sorted(set(b_tasks) ^ set(q_tasks)):
        notes.add("only", f"task {t!r} ({lb if t in b_tasks else lq})")
    for g in sorted(groups & (set(bdoc["results"]) | set(qdoc["results"]))):
        notes.add("group", g)
    common = [t for t in b_tasks if t in q_tasks]
    if not common:
        raise InputError(f"no task appears in both files (baseline: {', '.join(b_tasks[:5]) or 'none'}; quantized: "
                         f"{', '.join(q_tasks[:5]) or 'none'})", path=f"{lb} + {lq}",
                         expected="results files of the same tasks")  # fmt: skip
    model = _lm_eval_model(bdoc)
    qname, qbits = _lm_eval_quant(qdoc)
    qprec = (_precision_name(setting.bits, setting.act_bits) or qname or _precision_name(qbits, setting.act_bits)
             or _lm_eval_model(qdoc) or "quantized")  # fmt: skip
    bprec = _DTYPES.get(_model_args(bdoc).get("dtype", "").lower())
    base = _base_row(setting, study=f"lm-eval {model or Path(lb).stem}", model=model, baseline_precision=bprec,
                     quant_precision=qprec, bits=qbits, technique="weight-only" if qname else None)  # fmt: skip
    base["source"] = f"lm-evaluation-harness results: {Path(lb).name} vs {Path(lq).name}"
    qmodel = _lm_eval_model(qdoc)
    base["notes"] = f"quantized model: {qmodel}" if qmodel and qmodel != model else None
    group_id = hashlib.sha256(braw).hexdigest()[:12]
    rows = []
    for task in common:
        rows += _lm_eval_task_rows((bdoc, qdoc), (lb, lq), task, base, mapping, notes, group_id)
    notes.warn(_LM_EVAL_NOTES)
    if not rows:
        raise InputError("no task x metric of both files maps to a metaquant property", path=f"{lb} + {lq}",
                         expected="metrics such as acc, acc_norm, exact_match or word_perplexity, or --map")
    return _frame(rows)


# --------------------------------------------------------------------------
# llama.cpp perplexity
# --------------------------------------------------------------------------

#: ``LOG_INF("Final estimate: PPL = %.4lf +/- %.5lf\n", ppl, nll2*ppl)`` (tools/perplexity/perplexity.cpp).
_FINAL = re.compile(r"Final estimate: PPL = (\S+) \+/- (\S+)")
#: ``LOG_INF("%s: calculating perplexity over %d chunks, n_ctx=%d, batch_size=%d, n_seq=%d\n", ...)``.
_CHUNKS = re.compile(r"calculating perplexity over (\d+) chunks, n_ctx=(\d+)")
#: The model loader's summary: ``print_info: file type   = Q4_K - Medium`` (older: ``llm_load_print_meta: model
#: ftype      = ...``) and ``llama_model_loader: - kv   1:   general.name   str   = Meta Llama 3 8B``.
_FTYPE = re.compile(r"(?:file type|model ftype)\s*=\s*(.+?)\s*$", re.M)
_NAME = re.compile(r"general\.name\s+str\s*=\s*(.+?)\s*$", re.M)
_PARAMS = re.compile(r"model params\s*=\s*([0-9.]+) ([KMBT])", re.M)


@dataclass(frozen=True)
class _PplRun:
    label: str
    ppl: float
    se: float | None
    chunks: int | None
    n_ctx: int | None
    ftype: str | None
    name: str | None
    params: float | None

    @property
    def tokens(self) -> int | None:
        """Tokens scored: each chunk scores its second half, ``n_ctx - 1 - n_ctx/2`` tokens."""
        if self.chunks is None or self.n_ctx is None:
            return None
        return self.chunks * (self.n_ctx - 1 - self.n_ctx // 2)


def _parse_ppl(path) -> _PplRun:
    label, text, _ = _read_text(path, "baseline/quantized")
    finals = _FINAL.findall(text)
    if not finals:
        why = " (the run printed 'Unexpected negative standard deviation of log(prob)')" \
            if "Unexpected negative standard deviation" in text else ""
        raise InputError(
            f"no line 'Final estimate: PPL = X +/- Y'{why}", path=label,
            expected="the output of llama-perplexity, stdout and stderr (llama-perplexity ... 2>&1 | tee FILE)",
        )  # fmt: skip
    if len(finals) > 1:
        raise InputError(f"has {len(finals)} 'Final estimate' lines", path=label, expected="the output of one run")
    try:
        ppl, se = float(finals[0][0]), float(finals[0][1])
    except ValueError:
        raise InputError(f"'Final estimate: PPL = {finals[0][0]} +/- {finals[0][1]}' is not two numbers", path=label,
                         expected="PPL = X +/- Y with numbers X > 0 and Y >= 0") from None  # fmt: skip
    if not (math.isfinite(ppl) and ppl > 0 and math.isfinite(se) and se >= 0):
        raise InputError(f"'PPL = {finals[0][0]} +/- {finals[0][1]}' is not a positive perplexity with a spread",
                         path=label, expected="PPL = X +/- Y with X > 0 and Y >= 0")
    chunks = _CHUNKS.findall(text)
    ftype, name, params = _FTYPE.findall(text), _NAME.findall(text), _PARAMS.findall(text)
    scale = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
    return _PplRun(label, ppl, se, int(chunks[-1][0]) if chunks else None, int(chunks[-1][1]) if chunks else None,
                   ftype[-1] if ftype else None, name[-1] if name else None,
                   round(float(params[-1][0]) * scale[params[-1][1]]) if params else None)  # fmt: skip


def _ftype_bits(ftype: str | None) -> tuple[str | None, float | None]:
    """(precision name, bits) of a GGUF file type (``Q4_K - Medium`` -> ``q4_k_m``, 4)."""
    if not ftype:
        return None, None
    name = ftype.strip().upper().removeprefix("MOSTLY ").removeprefix("MOSTLY_")
    short = re.sub(r"\s*-\s*(SMALL|MEDIUM|LARGE)\b", lambda m: "_" + m.group(1)[0], name)
    short = re.sub(r"\s*\(.*\)$", "", short).replace(" ", "_").lower()
    if m := re.match(r"^B?F(16|32)$", name):
        return short, float(m.group(1))
    m = re.match(r"^T?I?Q(\d)", name)
    return short, (float(m.group(1)) if m else None)


def _ppl_arm(run: _PplRun) -> tuple[float | None, int | None]:
    """(sd, n) of one run: n = tokens scored, sd = Y * sqrt(n), so that sd / sqrt(n) = Y."""
    n = run.tokens
    if run.se is None or n is None or n < 2:
        return None, n
    return run.se * math.sqrt(n), n


def read_llama_perplexity(baseline, quantized, setting: Setting | None = None) -> pd.DataFrame:
    """One measurement row from two outputs of llama.cpp's ``llama-perplexity``.

    The format (ggml-org/llama.cpp ``tools/perplexity/perplexity.cpp`` at
    050fc7f32de16858ac667d775b43a51ed8976e6f): the run logs
    ``perplexity: calculating perplexity over N chunks, n_ctx=C, batch_size=B, n_seq=S``,
    then ``[1]X1,[2]X2,...`` and ends with ``Final estimate: PPL = X +/- Y``
    (``%.4lf`` and ``%.5lf``).  X = exp(mean NLL) over the scored tokens (the second
    half of each chunk: N * (C - 1 - C/2) tokens) and Y = X * s / sqrt(n), with s the
    standard deviation of the per-token NLL: Y / X is the standard error of log X.  The
    model loader's ``file type = Q4_K - Medium`` and ``general.name`` lines give the
    precision and the model when they are in the file.

    The row is a ``perplexity`` measurement with ``*_n`` = tokens scored and
    ``*_sd = Y * sqrt(n)``; its log response ratio then has the known variance
    (Y_b / X_b)^2 + (Y_q / X_q)^2 (the delta method: var(log X) ~ (Y / X)^2).  Without the
    chunks line the number of tokens is unknown and the row has no spread (a warning says so).

    Parameters
    ----------
    baseline, quantized : path
        Saved output of ``llama-perplexity`` for the reference (e.g. F16) and the quantized model.
    setting : Setting, optional
        Study, bits, activation bits, technique (default ``weight-only``), hardware and task
        (e.g. ``wikitext-2``; the output does not name its text).

    Returns
    -------
    pandas.DataFrame
        One measurement row.

    Raises
    ------
    InputError
        A file without (or with several) ``Final estimate`` lines, or with values that are
        not a positive perplexity and a spread.
    """
    setting = (setting or Setting()).check()
    b, q = _parse_ppl(baseline), _parse_ppl(quantized)
    (bsd, bn), (qsd, qn) = _ppl_arm(b), _ppl_arm(q)
    for run, sd in ((b, bsd), (q, qsd)):
        if sd is None:
            warnings.warn(f"{run.label}: no line 'calculating perplexity over N chunks, n_ctx=C', so the number of "
                          "tokens behind +/- is unknown; the row is kept without a spread (save the whole output)",
                          UserWarning, stacklevel=2)  # fmt: skip
    if (b.chunks, b.n_ctx) != (q.chunks, q.n_ctx) and None not in (b.chunks, q.chunks):
        warnings.warn(f"{b.label} scored {b.chunks} chunks of {b.n_ctx} tokens and {q.label} {q.chunks} of {q.n_ctx}: "
                      "the perplexities are not of the same text and context", UserWarning, stacklevel=2)  # fmt: skip
    bprec, _ = _ftype_bits(b.ftype)
    qprec, qbits = _ftype_bits(q.ftype)
    bits = setting.bits if setting.bits is not None else qbits
    qprec = qprec or _precision_name(bits, setting.act_bits) or "quantized"
    model = b.name or q.name
    base = _base_row(setting, study=f"llama-perplexity {model or Path(b.label).stem}", model=model,
                     baseline_precision=bprec, quant_precision=qprec, bits=qbits, technique="weight-only")  # fmt: skip
    chunks = f"{b.chunks} chunks of {b.n_ctx} tokens" if b.chunks is not None else "chunks not printed"
    row = {**base, "property": "perplexity", "task": setting.task, "metric": "perplexity (llama.cpp)",
           "higher_is_better": False, "baseline_mean": b.ppl, "baseline_sd": bsd, "baseline_n": bn,
           "quant_mean": q.ppl, "quant_sd": qsd, "quant_n": qn,
           "source": f"llama-perplexity output: {Path(b.label).name} vs {Path(q.label).name}",
           "notes": f"Final estimate: PPL = {b.ppl:.4f} +/- {b.se:.5f} vs {q.ppl:.4f} +/- {q.se:.5f}; {chunks}",
           "x_params": b.params or q.params}  # fmt: skip
    return _frame([row])
