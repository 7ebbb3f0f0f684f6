"""Classification tasks for the harness: synthetic, or shipped with an installed package.

No task downloads anything.  ``synth`` is generated from a seed with numpy
alone; ``digits`` is scikit-learn's copy of the UCI optical digits (1,797
8x8 images, shipped inside the sklearn wheel) and is offered only when sklearn
is importable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class Task:
    """A seeded train / held-out split of an image-classification task.

    Attributes
    ----------
    name : str
        ``"synth"`` or ``"digits"``.
    description : str
        One line for the ``task`` column of the records.
    X_train, X_test : numpy.ndarray
        float32 images of shape (n, 1, side, side), standardised with the
        training split's mean and sd.
    y_train, y_test : numpy.ndarray
        int64 class labels in ``0 .. n_classes - 1``.
    n_classes : int
    """

    name: str
    description: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def side(self) -> int:
        return int(self.X_train.shape[-1])


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = float(train.mean()), float(train.std())
    return ((train - mu) / sd).astype(np.float32), ((test - mu) / sd).astype(np.float32)


def synth_blobs(
    seed: int = 0,
    n_train: int = 4000,
    n_test: int = 2000,
    side: int = 16,
    n_classes: int = 10,
    blobs: int = 3,
    max_shift: int = 2,
    noise: float = 0.5,
) -> Task:
    """A seeded Gaussian-blob image task.

    Each class c has a template T_c, the sum of ``blobs`` isotropic Gaussian
    bumps with centres uniform on the inner square, widths uniform on
    [1.2, 2.5] px and amplitudes uniform on ±[0.6, 1.0].  A sample of class c is

        x = g · shift(T_c, dx, dy) + ε,   g ~ U(0.8, 1.2),  dx, dy ~ U{-s..s},  ε ~ N(0, noise²) per pixel,

    so classes overlap through the shifts and the noise and a small network
    stays below 100 % accuracy (about 90 % for the harness's MLP at the
    default noise), leaving room for quantization to show.

    Parameters
    ----------
    seed : int
        Seeds numpy's PCG64 generator; the same seed gives the same task.
    n_train, n_test : int
        Sizes of the two splits (drawn independently from the same process).
    side, n_classes, blobs, max_shift, noise
        Image side in pixels, classes, bumps per template, maximum shift and
        pixel noise sd.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x51A7]))
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float64)
    templates = np.zeros((n_classes, side, side))
    for c in range(n_classes):
        for _ in range(blobs):
            cy, cx = rng.uniform(3, side - 4, size=2)
            width = rng.uniform(1.2, 2.5)
            amp = rng.uniform(0.6, 1.0) * rng.choice([-1.0, 1.0])
            templates[c] += amp * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, n_classes, size=n)
        shifts = rng.integers(-max_shift, max_shift + 1, size=(n, 2))
        gain = rng.uniform(0.8, 1.2, size=n)
        X = np.empty((n, side, side))
        for i in range(n):
            X[i] = gain[i] * np.roll(templates[y[i]], tuple(shifts[i]), axis=(0, 1))
        X += rng.normal(0.0, noise, size=X.shape)
        return X[:, None], y.astype(np.int64)

    Xtr, ytr = draw(n_train)
    Xte, yte = draw(n_test)
    Xtr, Xte = _standardise(Xtr, Xte)
    desc = (f"synthetic Gaussian-blob images ({side}x{side}, {n_classes} classes, noise sd {noise:g}, "
            f"seed {seed}; {n_train} train / {n_test} held-out)")
    return Task("synth", desc, Xtr, ytr, Xte, yte, n_classes)


def digits(seed: int = 0, test_fraction: float = 0.3) -> Task:
    """scikit-learn's shipped 8x8 digits, split per class (stratified) with a seeded permutation.

    Raises
    ------
    InputError
        When scikit-learn is not installed.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise InputError("the digits task needs scikit-learn (pip install scikit-learn)",
                         expected="--model mlp-synth or cnn-synth, which need nothing extra") from None
    d = load_digits()
    X, y = d.images.astype(np.float64), d.target.astype(np.int64)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xD161]))
    test_idx = []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        test_idx.extend(idx[: int(round(test_fraction * len(idx)))])
    test = np.zeros(len(y), dtype=bool)
    test[test_idx] = True
    Xtr, Xte = _standardise(X[~test][:, None], X[test][:, None])
    desc = (f"scikit-learn digits (UCI optical digits, 8x8, 10 classes; stratified split seed {seed}; "
            f"{int((~test).sum())} train / {int(test.sum())} held-out)")
    return Task("digits", desc, Xtr, y[~test], Xte, y[test], 10)


def load_task(name: str, seed: int = 0) -> Task:
    """The task called ``name`` (``"synth"`` or ``"digits"``)."""
    if name == "synth":
        return synth_blobs(seed)
    if name == "digits":
        return digits(seed)
    raise InputError(f"unknown task {name!r}", expected="synth or digits")


# --------------------------------------------------------------------------
# Models (network + task pairs)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """A named network + task pair.

    Attributes
    ----------
    name : str
        ``--model`` value, e.g. ``"mlp-synth"``.
    arch : {"mlp", "cnn"}
    task : {"synth", "digits"}
    epochs : int
        Training epochs (Adam, lr 1e-3, batch 256).
    description : str
    """

    name: str
    arch: str
    task: str
    epochs: int
    description: str


MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in [
        ModelSpec("mlp-synth", "mlp", "synth", 8, "MLP 256-256-256-10 (ReLU) on the synthetic blob task"),
        ModelSpec("cnn-synth", "cnn", "synth", 6, "CNN conv16-conv32-fc128 on the synthetic blob task"),
        ModelSpec("mlp-digits", "mlp", "digits", 30, "MLP 64-256-256-10 (ReLU) on scikit-learn's digits"),
        ModelSpec("cnn-digits", "cnn", "digits", 30, "CNN conv16-conv32-fc128 on scikit-learn's digits"),
    ]
}


def get_model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` called ``name``; an :class:`InputError` listing the choices otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}", expected="one of " + ", ".join(MODELS)) from None
