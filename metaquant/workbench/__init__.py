"""The workbench: compare engines, sensitivity sweeps and predictions, built on results of :mod:`metaquant.fitting`."""
