"""The ``metaquant`` command line: thin click commands over :mod:`metaquant.api`.

Every user-facing error is one line on stderr with exit code 2 (bad input) or
3 (failed MCMC diagnostics under ``--strict``); never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from ..errors import MetaquantError


class _Group(click.Group):
    """A group that turns metaquant errors into one line and an exit code."""

    def invoke(self, ctx):
        from ..progress import collect_warnings

        try:
            # Python warnings raised inside a command are said once each, in words, after it
            with collect_warnings() as caught:
                out = super().invoke(ctx)
            for sentence in dict.fromkeys(caught.sentences()):
                click.echo(f"warning: {sentence}", err=True)
            return out
        except MetaquantError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="metaquant")
def main():
    """Evidence synthesis on deep-learning model quantization.

    \b
    metaquant fit --property accuracy          Bayesian pooling of the shipped SSM-2025 data
    metaquant fit --property accuracy --method reml --missing-vi drop
    metaquant ssm                               the Structured Synthesis Method, as the paper
    metaquant data list                         shipped datasets
    """


# Commands live in their own modules; each is optional so that a partial
# install still starts (e.g. the benchmark harness without torch).
_COMMANDS = {
    "fit": ("metaquant.cli.fit", "fit"),
    "data": ("metaquant.cli.data", "data"),
    "ssm": ("metaquant.cli.ssm", "ssm"),
    "bench": ("metaquant.cli.bench", "bench"),
    "compare": ("metaquant.cli.compare", "compare"),
    "sensitivity": ("metaquant.cli.compare", "sensitivity"),
    "plot": ("metaquant.cli.compare", "plot"),
    "report": ("metaquant.cli.compare", "report"),
    "predict": ("metaquant.cli.predict", "predict"),
    "bias": ("metaquant.cli.bias", "bias"),
}
for _name, (_mod, _attr) in _COMMANDS.items():
    try:
        main.add_command(getattr(importlib.import_module(_mod), _attr), _name)
    except (ImportError, AttributeError):  # module not present in this build
        pass
