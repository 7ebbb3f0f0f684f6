"""The benchmark networks and their seeded training (imports torch; loaded only by the harness)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from .data import MODELS, ModelSpec, get_model_spec  # noqa: F401 - re-exported for callers


def build_network(arch: str, side: int, n_classes: int) -> nn.Sequential:
    """A plain ``nn.Sequential`` (traceable by torch.fx, quantizable by torch.ao).

    ``mlp``: Flatten, Linear(side², 256), ReLU, Linear(256, 256), ReLU, Linear(256, n_classes).
    ``cnn``: two 3x3 conv (padding 1) + ReLU + 2x2 max-pool stages with 16 and 32 channels,
    then Linear(32·(side/4)², 128), ReLU, Linear(128, n_classes).
    """
    if arch == "mlp":
        return nn.Sequential(
            nn.Flatten(), nn.Linear(side * side, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
            nn.Linear(256, n_classes),
        )
    if arch == "cnn":
        q = side // 4
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * q * q, 128), nn.ReLU(), nn.Linear(128, n_classes),
        )
    raise InputError(f"unknown architecture {arch!r}", expected="mlp or cnn")


def train(model: nn.Module, X: np.ndarray, y: np.ndarray, *, epochs: int, seed: int, lr: float = 1e-3,
          batch_size: int = 256) -> list[float]:
    """Train in place with Adam and cross-entropy on the CPU; returns the mean loss of each epoch.

    The shuffling order comes from a generator seeded with ``seed``.  Training
    runs on one CPU thread: for networks this small that is as fast as several
    threads on an idle machine, much faster on a loaded one, and it makes the
    floating-point reductions (hence the trained weights) independent of the
    thread count, so a seed reproduces the model on one torch version.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(model, X, y, epochs=epochs, seed=seed, lr=lr, batch_size=batch_size)
    finally:
        torch.set_num_threads(threads)


def _train(model, X, y, *, epochs, seed, lr, batch_size) -> list[float]:
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    history = []
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(Xt), generator=gen)
        total = 0.0
        for i in range(0, len(Xt), batch_size):
            idx = perm[i : i + batch_size]
            opt.zero_grad()
            loss = loss_fn(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        history.append(total / len(Xt))
    model.eval()
    return history


def trained_model(spec: ModelSpec, task, seed: int) -> tuple[nn.Sequential, list[float]]:
    """Build ``spec``'s network with seeded initial weights and train it on ``task``."""
    torch.manual_seed(seed)
    net = build_network(spec.arch, task.side, task.n_classes)
    hist = train(net, task.X_train, task.y_train, epochs=spec.epochs, seed=seed)
    return net, hist
