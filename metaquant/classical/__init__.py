"""The classical (frequentist) engine, metafor's family: ``rma``, ``rma_mv``, robust variance, influence, bias.

``engine`` is the property-level adapter the fitting road calls; the other modules are the estimators.
"""
