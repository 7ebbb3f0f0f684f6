"""Evidence in, effect tables out: reading and validating evidence, the property registry, effect sizes, known V.

``io`` reads and validates a CSV or a shipped dataset, ``schema`` holds the property registry, ``effects`` turns
rows into effect sizes (``yi``, ``vi``, moderators) and ``covariance`` builds a known sampling covariance V.
(The repository's ``data/`` folder is the shipped datasets, installed as ``metaquant._data``; this package is the
code that reads them, hence a different name.)
"""
