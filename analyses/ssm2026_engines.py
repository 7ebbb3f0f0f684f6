"""The seed paper's conclusions on the 21-study extension, and the three engines on it.

For every property of the shipped ``ssm2026`` data: the SSM label under the extension's rules (``rules="ssm2026"``,
which reproduce the authors' synthesis exactly) and under the first version's rules, the exact Bayesian engine
(random effects on the log ratio, unknown variances modelled) and REML (``missing_vi = drop``), their agreement
(metaquant.workbench.compare), and a leave-one-study-out of the SSM label.  The seven properties whose label the
ESEM 2025 paper states are compared with its six-study result (shipped ``ssm2025``, first-version rules).

Writes ``docs/results/ssm2026_engines.{md,json}``.  About a minute on two cores::

    python analyses/ssm2026_engines.py
"""

from __future__ import annotations

import json
from pathlib import Path

import metaquant as mq
from metaquant import ssm
from metaquant.outputs import json_safe
from metaquant.workbench import compare

OUT = Path(__file__).resolve().parents[1] / "docs" / "results"
# The paper's stated labels (ESEM 2025 abstract and the Evidence Factory's "Proposed theory", docs/results.md §1).
PAPER = {"accuracy": "WN", "storage_size": "SP", "f1_score": "IF", "inference_power_draw": "WP",
         "inference_latency": "IF-WP", "gpu_energy_consumption": "SP", "gpu_power_draw": "IF-WP"}


def loo_changes(ev, prop: str, label: str) -> list[str]:
    """Studies whose removal changes the property's SSM label (rules ssm2026)."""
    tab = mq.compute_effects(ev)
    sub = tab[tab["property"] == prop]
    out = []
    for s in dict.fromkeys(sub["study"]):
        rest = sub[sub["study"] != s]
        if rest.empty:
            continue
        r = ssm.synthesize(rest, prop, rules="ssm2026")
        if r.label_code != label:
            out.append(f"{s}->{r.intensity}")
    return out


def main() -> None:
    ev = mq.load("ssm2026")
    tab = mq.compute_effects(ev)
    old = {r.property: r for r in ssm.synthesize(mq.load("ssm2025"))}
    rows = []
    for prop in dict.fromkeys(tab["property"]):
        t = mq.for_property(tab, prop)
        r26 = ssm.synthesize(t, prop, rules="ssm2026")
        r25 = ssm.synthesize(t, prop)
        s = r26.to_dict()
        s.update(available=True, n_studies=int(t["study"].nunique()), models_per_study=compare.models_per_study(t))
        bayes, _ = compare.fit_bayes(t, method="exact")
        freq = compare.fit_reml(t, missing_vi="drop")
        agr = compare.agreement(t, s, bayes, freq)
        rows.append({
            "property": prop, "n_models": r26.n_models, "n_studies": r26.n_studies,
            "ssm2026": r26.intensity, "ssm2026_code": r26.label_code, "ssm2026_belief": r26.belief,
            "ssm2026_conflict": r26.conflict_last,
            "ssm2025_rules": r25.label_code, "ssm2025_rules_belief": r25.belief,
            "paper_6_studies": old[prop].label_code if prop in old else None,
            "paper_6_studies_belief": old[prop].belief if prop in old else None,
            "paper_states": PAPER.get(prop),
            "bayes": bayes.get("label_code"), "bayes_p": bayes.get("label_probability"),
            "bayes_pct": bayes.get("pct_mean"), "bayes_ci": [bayes.get("pct_ci_low"), bayes.get("pct_ci_high")],
            "reml": freq.get("label_code"), "reml_pct": freq.get("pct"),
            "reml_ci": [freq.get("pct_ci_low"), freq.get("pct_ci_high")],
            "reml_k": f"{freq.get('k', 0)}/{len(t)}",
            "agreement": agr["status"], "agreement_pairs": agr["pairs"], "reason": agr["reason"],
            "loo_label_changes": loo_changes(ev, prop, r26.label_code),
        })  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ssm2026_engines.json").write_text(json.dumps(json_safe(rows), indent=2))

    def f(x, spec=".2f"):
        return "—" if x is None else format(x, spec)

    def ci(lo, hi):
        return "" if lo is None or hi is None else f" [{lo:+.1f}, {hi:+.1f}]"

    lines = ["| property | models (studies) | paper, 6 studies | SSM ssm2026 (Bel) | SSM, 2025 rules (Bel) | "
             "Bayes exact (P) pooled % | REML % (k/rows) | agreement | LOO label changes |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        paper = f"{r['paper_6_studies']} ({f(r['paper_6_studies_belief'], '.3f')})" if r["paper_6_studies"] else "—"
        if r["paper_states"] and r["paper_states"] != r["paper_6_studies"]:
            paper += f"; states {r['paper_states']}"
        bay = f"{r['bayes']} ({f(r['bayes_p'])}) {f(r['bayes_pct'], '+.1f')}{ci(*r['bayes_ci'])}"
        rem = (f"{r['reml']} {f(r['reml_pct'], '+.1f')}{ci(*r['reml_ci'])} ({r['reml_k']})" if r["reml"]
               else f"not estimable ({r['reml_k']})")
        lines.append(f"| {r['property']} | {r['n_models']} ({r['n_studies']}) | {paper} | {r['ssm2026']} "
                     f"({f(r['ssm2026_belief'], '.3f')}) | {r['ssm2025_rules']} ({f(r['ssm2025_rules_belief'], '.3f')})"
                     f" | {bay} | {rem} | {r['agreement']} | {', '.join(r['loo_label_changes']) or 'none'} |")
    (OUT / "ssm2026_engines.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
