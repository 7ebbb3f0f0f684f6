"""Benchmark of the Bayesian engine (run on demand; not a test).

    python benchmarks/bench_bayes.py                  # full run, prints JSON sections
    python benchmarks/bench_bayes.py --quick          # fewer repetitions and sizes
    python benchmarks/bench_bayes.py --out bench.json # also keep the report

What is measured (wall and CPU seconds, medians over repetitions):

1. ``metaquant.bayes.fit`` on the shipped ``ssm2025`` accuracy rows (multilevel
   model, 13 rows without a sampling variance), default settings (4 chains x
   1000 draws + 1000 tuning), per available sampler:
   *cold* = the first fit in a fresh Python process (model build and
   compilation included; PyTensor's on-disk C cache is warm after the first
   ever run, nutpie's numba code is compiled afresh), *warm* = later fits in
   the same process (the compiled model is reused).  ESS/s = smallest bulk
   ESS of (mu, standard deviations) per wall second.
2. The same posterior from plain hand-written PyMC scripts in the same process,
   each call building a ``pm.Model`` and calling ``pm.sample`` (PyMC's default
   jitter+adapt_diag initialisation, target_accept 0.95, one core):
   (a) the same marginal likelihood, (b) the textbook non-centred model.
3. ``metaquant.bayes.fit_exact`` on the same rows (2-D quadrature over tau and
   sigma_resid) and on the rows' known-variance subset (1-D).
4. Fit time against the number of effects k = 10, 100, 1000, 10000 (simulated
   random-effects data, one row per study), exact and MCMC (fewer draws for
   large k).
5. ``fit_many`` over all 11 properties of ssm2025: compilations and time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import metaquant as mq  # noqa: E402
from metaquant import bayes  # noqa: E402
from metaquant.errors import ConvergenceWarning  # noqa: E402

warnings.simplefilter("ignore", ConvergenceWarning)
warnings.simplefilter("ignore", FutureWarning)


def _accuracy() -> pd.DataFrame:
    return mq.for_property(mq.compute_effects(mq.load("ssm2025")), "accuracy")


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def _median(xs):
    return float(statistics.median(xs)) if xs else float("nan")


def available_samplers() -> list[str]:
    out = ["pymc"]
    for name, mods in (("nutpie", ("nutpie",)), ("numpyro", ("numpyro", "jax"))):
        try:
            for m in mods:
                __import__(m)
            out.append(name)
        except ImportError:
            pass
    return out


def _min_ess(idata, names) -> float:
    import arviz as az

    sub = idata.posterior[[n for n in names if n in idata.posterior]]
    ess = az.ess(sub, method="bulk")
    return float(min(float(np.min(ess[v].values)) for v in ess.data_vars))


# ---------------------------------------------------------------- 1. metaquant fit, cold and warm


def cold_one(sampler: str) -> dict:
    """Run in a fresh process: one fit, timed without the imports."""
    acc = _accuracy()
    res, wall, cpu = _timed(lambda: bayes.fit(acc, sampler=sampler))
    d = res.to_dict()
    return {"wall": wall, "cpu": cpu, "ess": d["ess_bulk_min"], "divergences": d["divergences"]}


def bench_fit(sampler: str, reps: int, cold_reps: int) -> dict:
    colds = []
    for _ in range(cold_reps):
        p = subprocess.run([sys.executable, __file__, "--cold-one", sampler], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        colds.append(json.loads(p.stdout.strip().splitlines()[-1]))
    acc = _accuracy()
    bayes.fit(acc, sampler=sampler, seed=0)  # compile in this process
    warm = []
    for i in range(reps):
        res, wall, cpu = _timed(lambda i=i: bayes.fit(acc, sampler=sampler, seed=i + 1))
        d = res.to_dict()
        warm.append({"wall": wall, "cpu": cpu, "ess": d["ess_bulk_min"], "divergences": d["divergences"],
                     "compiled": d["compiled"]})
    return {
        "sampler": sampler,
        "cold_wall": _median([c["wall"] for c in colds]), "cold_cpu": _median([c["cpu"] for c in colds]),
        "warm_wall": _median([w["wall"] for w in warm]), "warm_cpu": _median([w["cpu"] for w in warm]),
        "warm_ess_per_s": _median([w["ess"] / w["wall"] for w in warm]),
        "cold_ess_per_s": _median([c["ess"] / c["wall"] for c in colds]),
        "divergences": int(sum(w["divergences"] for w in warm) + sum(c["divergences"] for c in colds)),
        "warm_recompiled": any(w["compiled"] for w in warm),
    }


# ---------------------------------------------------------------- 2. plain PyMC scripts


def plain_marginal(acc: pd.DataFrame, seed: int):
    """A plain script: the same marginal model built and sampled with pm.sample's defaults."""
    import pymc as pm
    import pytensor.tensor as pt

    from metaquant.bayes.collapsed import Structure, loglik_inputs
    from metaquant.bayes.data import prepare
    from metaquant.bayes.models import marginal_loglik
    from metaquant.bayes.priors import Priors

    # the package's own arrays of the collapsed likelihood (rows, study memberships, sufficient statistics)
    md, priors = prepare(acc, model="multilevel"), Priors()
    d = {k: pt.as_tensor(v) for k, v in loglik_inputs(md, priors, Structure.of(md, priors, "marginal")).items()}
    with pm.Model():
        r_ts = pm.Flat("ts_raw")
        r_s = pm.Flat("radius_raw")
        r_a = pm.Flat("angle_raw")
        ts = 0.5 * pt.softplus(r_ts)
        c = np.sqrt(0.5**2 + 0.25**2)
        s = c * pt.softplus(r_s)
        phi = 0.5 * np.pi * pt.sigmoid(r_a)
        tw, sig = s * pt.cos(phi), s * pt.sin(phi)
        lp = (pm.logp(pm.HalfNormal.dist(0.5), ts) + pt.log(0.5 * pt.sigmoid(r_ts))
              + pm.logp(pm.HalfNormal.dist(0.5), tw) + pm.logp(pm.HalfNormal.dist(0.25), sig)
              + pt.log(s) + pt.log(c * pt.sigmoid(r_s)) + np.log(0.5 * np.pi) + pt.log(pt.sigmoid(r_a))
              + pt.log1p(-pt.sigmoid(r_a)))
        pm.Potential("priors", lp)
        pm.Potential("loglik", marginal_loglik(d, tw, ts=ts, sig=sig, intercept_only=True))
        idata = pm.sample(1000, tune=1000, chains=4, cores=1, target_accept=0.95, random_seed=seed,
                          progressbar=False, compute_convergence_checks=False)
    return idata, ["ts_raw", "radius_raw", "angle_raw"]


def plain_noncentred(acc: pd.DataFrame, seed: int):
    """A plain script: the textbook non-centred multilevel model."""
    import pymc as pm
    import pytensor.tensor as pt

    y = acc["yi"].to_numpy()
    known = acc["vi_known"].to_numpy()
    v = np.where(known, acc["vi"].to_numpy(), 0.0)
    studies, sidx = np.unique(acc["study"], return_inverse=True)
    with pm.Model():
        mu = pm.Normal("mu", 0, 1)
        ts = pm.HalfNormal("tau_study", 0.5)
        tw = pm.HalfNormal("tau_within", 0.5)
        sig = pm.HalfNormal("sigma_resid", 0.25)
        zs = pm.Normal("z_study", 0, 1, shape=len(studies))
        z = pm.Normal("z", 0, 1, shape=len(y))
        sd = pt.sqrt(pt.where(known, v, sig**2))
        pm.Normal("y", mu + ts * zs[sidx] + tw * z, sd, observed=y)
        idata = pm.sample(1000, tune=1000, chains=4, cores=1, target_accept=0.95, random_seed=seed,
                          progressbar=False, compute_convergence_checks=False)
    return idata, ["mu", "tau_study", "tau_within", "sigma_resid"]


def bench_plain(kind: str, reps: int) -> dict:
    """A plain script against ``metaquant.bayes.fit``, run alternately so that both see the same machine load.

    The first call of the plain script in this process is reported separately (it compiles);
    ``fit`` has compiled its model in section 1 already.
    """
    import logging

    logging.getLogger("pymc").setLevel(logging.ERROR)
    from metaquant.bayes.results import single_threaded_blas

    acc = _accuracy()
    fn = {"marginal": plain_marginal, "noncentred": plain_noncentred}[kind]
    runs, ours = [], []
    with single_threaded_blas():
        for i in range(reps + 1):
            (idata, names), wall, cpu = _timed(lambda i=i: fn(acc, i))
            runs.append({"wall": wall, "cpu": cpu, "ess": _min_ess(idata, names),
                         "divergences": int(idata.sample_stats["diverging"].sum())})
            if i:
                res, wall, cpu = _timed(lambda i=i: bayes.fit(acc, seed=i))
                ours.append({"wall": wall, "cpu": cpu, "ess": res.to_dict()["ess_bulk_min"]})
    warm = runs[1:]
    return {"script": kind, "first_wall": runs[0]["wall"], "warm_wall": _median([r["wall"] for r in warm]),
            "warm_cpu": _median([r["cpu"] for r in warm]),
            "warm_ess_per_s": _median([r["ess"] / r["wall"] for r in warm]),
            "divergences_per_fit": _median([r["divergences"] for r in runs]),
            "paired_fit_wall": _median([o["wall"] for o in ours]), "paired_fit_cpu": _median([o["cpu"] for o in ours]),
            "paired_fit_ess_per_s": _median([o["ess"] / o["wall"] for o in ours]),
            "paired_wall_ratio_plain_over_fit": _median([r["wall"] / o["wall"]
                                                         for r, o in zip(warm, ours, strict=True)])}


# ---------------------------------------------------------------- 3./4. exact engine and scaling


def simulate(k: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.005, 0.05, k)
    y = 0.1 + 0.2 * rng.standard_normal(k) + np.sqrt(v) * rng.standard_normal(k)
    return pd.DataFrame({"yi": y, "vi": v, "study": [f"s{i}" for i in range(k)], "property": "accuracy"})


def bench_exact(tables: dict[str, pd.DataFrame], reps: int) -> dict:
    out = {}
    for name, t in tables.items():
        bayes.fit_exact(t)
        times = [_timed(lambda t=t: bayes.fit_exact(t))[1] for _ in range(reps)]
        out[name] = {"k": len(t), "median_s": _median(times), "min_s": min(times)}
    return out


def bench_scaling(ks, reps: int) -> list[dict]:
    rows = []
    for k in ks:
        t = simulate(k)
        ex = [_timed(lambda t=t: bayes.fit_exact(t))[1] for _ in range(max(3, reps))]
        draws = 1000 if k <= 1000 else 300
        bayes.fit(t, draws=50, tune=50, chains=1)  # compile / warm
        mc = []
        for i in range(max(1, reps // 2)):
            res, wall, cpu = _timed(lambda i=i, t=t, n=draws: bayes.fit(t, draws=n, tune=n, seed=i))
            d = res.to_dict()
            mc.append({"wall": wall, "ess": d["ess_bulk_min"]})
        rows.append({"k": k, "exact_s": _median(ex), "mcmc_draws": draws, "mcmc_s": _median([m["wall"] for m in mc]),
                     "mcmc_ess_per_s": _median([m["ess"] / m["wall"] for m in mc])})
    return rows


def bench_fit_many() -> dict:
    tab = mq.compute_effects(mq.load("ssm2025"))
    bayes.clear_cache()  # as in a fresh process: every structure compiles once
    before = bayes.cache_info()
    res, wall, cpu = _timed(lambda: bayes.fit_many(tab))
    after = bayes.cache_info()
    structures = sorted({(r.data.model, r.data.n_unknown > 0) for r in res.values()})
    return {"properties": len(res), "wall_s": wall, "cpu_s": cpu, "compiles": after["compiles"] - before["compiles"],
            "structures": [f"{m}{' + sigma_resid' if u else ''}" for m, u in structures],
            "divergences": int(sum(r.to_dict()["divergences"] for r in res.values())),
            "per_fit_s": {p: r.settings["time_s"] for p, r in res.items()}}


# ---------------------------------------------------------------- main


def machine() -> dict:
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "loadavg_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "pymc": __import__("pymc").__version__, "pytensor": __import__("pytensor").__version__,
            "numpy": np.__version__}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and sizes")
    ap.add_argument("--reps", type=int, default=None, help="repetitions of each warm measurement")
    ap.add_argument("--out", default=None, help="also write the report as JSON to this file")
    ap.add_argument("--sections", default=None, help="comma-separated subset of fit,plain,exact,scaling,many")
    ap.add_argument("--cold-one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.cold_one:
        print(json.dumps(cold_one(args.cold_one)))
        return
    reps = args.reps or (2 if args.quick else 5)
    cold_reps = 1 if args.quick else 3
    ks = (10, 100, 1000) if args.quick else (10, 100, 1000, 10000)
    sections = set(args.sections.split(",")) if args.sections else {"fit", "plain", "exact", "scaling", "many"}
    report = {"machine": machine(), "reps": reps}
    acc = _accuracy()
    if "fit" in sections:
        report["fit"] = [bench_fit(s, reps, cold_reps) for s in available_samplers()]
        print(json.dumps(report["fit"], indent=1), flush=True)
    else:
        bayes.fit(acc)  # the paired comparison below needs the compiled model
    if "plain" in sections:
        # the non-centred script takes minutes per fit on these rows (divergent, tiny steps): one warm repetition
        report["plain"] = [bench_plain("marginal", reps), bench_plain("noncentred", 1)]
        print(json.dumps(report["plain"], indent=1), flush=True)
    if "exact" in sections:
        report["exact"] = bench_exact({"accuracy (2-D, unknown vi)": acc,
                                       "accuracy, known vi only (1-D)": acc[acc["vi_known"]].reset_index(drop=True)},
                                      reps=20)
        print(json.dumps(report["exact"], indent=1), flush=True)
    if "scaling" in sections:
        report["scaling"] = bench_scaling(ks, reps)
        print(json.dumps(report["scaling"], indent=1), flush=True)
    if "many" in sections:
        report["fit_many"] = bench_fit_many()
        print(json.dumps(report["fit_many"], indent=1), flush=True)
    if "plain" in sections:
        plain = {p["script"]: p for p in report["plain"]}
        report["ratios"] = {
            "plain_marginal / fit, paired wall": plain["marginal"]["paired_wall_ratio_plain_over_fit"],
            "plain_marginal / fit, CPU": plain["marginal"]["warm_cpu"] / plain["marginal"]["paired_fit_cpu"],
            "plain_noncentred / fit, paired wall": plain["noncentred"]["paired_wall_ratio_plain_over_fit"],
            "fit / plain_noncentred, ESS per s": plain["noncentred"]["paired_fit_ess_per_s"]
            / plain["noncentred"]["warm_ess_per_s"],
        }
        if "exact" in sections:
            report["ratios"]["fit / exact, wall"] = (plain["marginal"]["paired_fit_wall"]
                                                     / report["exact"]["accuracy (2-D, unknown vi)"]["median_s"])
    report["machine"]["loadavg_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(json.dumps(report.get("ratios", {}), indent=1))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
