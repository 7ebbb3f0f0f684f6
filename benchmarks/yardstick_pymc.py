"""The plain-PyMC yardstick: the model of ``metaquant fit --property accuracy`` written by hand.

``python benchmarks/yardstick_pymc.py`` reads the ssm2025 accuracy rows from metaquant's effect table, builds
the collapsed multilevel model (the same posterior as metaquant's marginal parametrization: study and
comparison effects integrated out, a residual scale for rows without a sampling variance; its log density is
``metaquant.bayes.models.marginal_loglik``) with PyMC's distributions as potentials, and calls ``pm.sample``
with PyMC's defaults (C backend, jitter+adapt_diag, one core) for everything but ``target_accept`` (0.95, as
metaquant) and the seed: 4 chains x (1000 tuning + 1000 draws).  It is what a PyMC user would write, timed as
a fresh process next to each metaquant command by ``benchmarks/bench_commands.py``.
"""

from __future__ import annotations

import sys

import numpy as np


def rows():
    """The arrays of ssm2025 accuracy that the collapsed likelihood reads (read before PyMC loads)."""
    import metaquant as mq
    from metaquant.bayes.data import prepare
    from metaquant.bayes.priors import Priors

    t = mq.effect_table("ssm2025")
    md = prepare(t[t["property"] == "accuracy"], model="auto", moderators=None, thresholds=None, rho=None,
                 shared_baseline=False)
    return md, Priors()


def main(seed: int = 1) -> float:
    md, priors = rows()
    import pymc as pm
    import pytensor.tensor as pt

    from metaquant.bayes.models import Structure, loglik_inputs, marginal_loglik

    arrays = loglik_inputs(md, priors, Structure.of(md, priors, "marginal"))
    with pm.Model():
        # the three standard deviations on the unconstrained coordinates metaquant samples (softplus for the
        # half-normal priors; the within-study and residual scales in polar coordinates), priors as potentials
        r_ts, r_s, r_a = pm.Flat("ts_raw"), pm.Flat("radius_raw"), pm.Flat("angle_raw")
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
        # y ~ N(mu 1, D + tau_study^2 Z Z' + 1 1'): study, comparison effects and mu integrated out
        pm.Potential("loglik", marginal_loglik({k: pt.as_tensor(x) for k, x in arrays.items()}, tw, ts=ts, sig=sig,
                                               intercept_only=True))
        idata = pm.sample(1000, tune=1000, chains=4, cores=1, target_accept=0.95, random_seed=seed,
                          progressbar=False, compute_convergence_checks=False)
    m = float(idata.posterior["ts_raw"].mean())
    print(f"yardstick: {idata.posterior.sizes['draw']} draws x {idata.posterior.sizes['chain']} chains")
    return m


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
