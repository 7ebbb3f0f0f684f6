"""Optional-dependency guard: the harness needs PyTorch, the rest of metaquant does not."""

from __future__ import annotations

import importlib

from ..errors import MetaquantError

#: The one line printed by ``metaquant bench`` when torch is missing.
INSTALL_HINT = (
    'metaquant bench needs PyTorch: pip install "metaquant[bench]" '
    "(on a GPU machine, first install the CUDA build of torch you want from pytorch.org)"
)


class TorchMissingError(MetaquantError):
    """PyTorch is not installed (exit code 2 at the CLI)."""

    exit_code = 2


def require_torch():
    """Import and return :mod:`torch`, or raise :class:`TorchMissingError` with :data:`INSTALL_HINT`."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        raise TorchMissingError(INSTALL_HINT) from None


def torch_available() -> bool:
    """Whether :func:`require_torch` would succeed (imports torch when it is there)."""
    try:
        require_torch()
    except TorchMissingError:
        return False
    return True
