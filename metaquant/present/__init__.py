"""Presentation: plots, text tables and the HTML report, drawn from results."""
