"""A small random search over the image CNN, judged on the validation split.

k-fold cross-validation would train a CNN k times per point; instead each trial trains
once on the training split with early stopping on the validation split, which also picks
the winner. The first trial is the default point (width 16 or the minimum, learning rate 1e-3) so that a
budget of one trial is still a sound model; the others are drawn by scikit-learn's
``ParameterSampler`` (learning rate log-uniform, width from a list). Widths are raised to
``image_cnn.min_width`` for the network's stages (32 for a one-stage network on 8x8
images): narrower ones are too small for int8 to pay off in file size. ``time_budget``
stops starting new trials once that many seconds have passed. A trial that fails is a
row with its error, never the end of the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from edgekit.runtime.errors import ConfigError, DataError
from edgekit.train.image_cnn import Augmentation, CnnParams, FitResult, build_cnn, fit, min_width, stages_for

DEFAULT_PARAMS = CnnParams()
WIDTHS = (8, 16, 32)
LEARNING_RATE_RANGE = (3e-4, 3e-3)


@dataclass
class ImageTrial:
    number: int
    params: CnnParams
    val_accuracy: float | None = None
    val_loss: float | None = None
    epochs: int = 0
    best_epoch: int = 0
    seconds: float = 0.0
    weights: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.number, "params": self.params.to_dict(), "val_accuracy": self.val_accuracy,
                "val_loss": self.val_loss, "epochs": self.epochs, "best_epoch": self.best_epoch,
                "fit_seconds": round(self.seconds, 2), "weights": self.weights, "error": self.error}


def search_widths(stages: int) -> tuple[int, ...]:
    """WIDTHS, each at least ``min_width(stages)`` (duplicates dropped)."""
    floor = min_width(stages)
    return tuple(sorted({max(w, floor) for w in WIDTHS}))


def parameter_points(n_iter: int, seed: int, *, separable: bool, stages: int, vary_width: bool = True) -> list[CnnParams]:
    from scipy.stats import loguniform
    from sklearn.model_selection import ParameterSampler

    first = replace(DEFAULT_PARAMS, separable=separable, width=max(DEFAULT_PARAMS.width, min_width(stages)))
    space = {"learning_rate": loguniform(*LEARNING_RATE_RANGE), "width": list(search_widths(stages))}
    if not vary_width:  # a MobileNet's width is its alpha, fixed by the user
        space.pop("width")
    drawn = ParameterSampler(space, n_iter=max(0, n_iter - 1), random_state=seed)
    return [first] + [replace(first, width=int(p.get("width", first.width)), learning_rate=float(p["learning_rate"]))
                      for p in drawn]


def cnn_trial(network_size: tuple[int, int] | None) -> Callable[..., FitResult]:
    """The default trial: build the small CNN for the point and fit it."""

    def trial(shape, n_classes, params: CnnParams, train, validation, **fit_args) -> FitResult:
        return fit(build_cnn(shape, n_classes, params, network_size), train, validation, **fit_args)

    return trial


def run_search(train: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray], n_classes: int, *,
               n_iter: int, epochs: int, patience: int, batch_size: int, augment: Augmentation, seed: int,
               separable: bool = False, network_size: tuple[int, int] | None = None, time_budget: float | None = None,
               on_trial: Callable[[int, int], None] | None = None,
               on_epoch: Callable[[int, int], None] | None = None,
               trial_fit: Callable[..., FitResult] | None = None) -> tuple[list[ImageTrial], Any]:
    """(every trial, the best trial's Keras model); ties go to the lower validation loss.

    ``trial_fit`` builds and trains one point (default: ``cnn_trial``; image_mobilenet has its
    own, which keeps the width fixed)."""
    from edgekit.train.tf_env import import_keras

    keras = import_keras()
    shape = tuple(int(d) for d in train[0].shape[1:])
    stages = stages_for(*(network_size or shape[:2]))
    points = parameter_points(n_iter, seed, separable=separable, stages=stages, vary_width=trial_fit is None)
    trial_fit = trial_fit or cnn_trial(network_size)
    started = time.perf_counter()
    trials: list[ImageTrial] = []
    best_model, best = None, None
    for number, params in enumerate(points, 1):
        if time_budget is not None and trials and time.perf_counter() - started > time_budget:
            break
        if on_trial is not None:
            on_trial(number, len(points))
        trial = ImageTrial(number, params)
        trials.append(trial)
        keras.utils.set_random_seed(seed + number)
        try:
            result = trial_fit(shape, n_classes, params, train, validation, epochs=epochs, patience=patience,
                               batch_size=batch_size, augment=augment, seed=seed + number,
                               on_epoch=(lambda e, n=number: on_epoch(n, e)) if on_epoch is not None else None)
            trial.weights = int(result.model.count_params())
        except ConfigError:  # the user's mistake (a weights file that does not fit), not this trial's
            raise
        except Exception as exc:  # a trial's failure (out of memory, a bad point) is its row, not the run's end
            trial.error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            continue
        trial.val_accuracy, trial.val_loss = result.val_accuracy, result.val_loss
        trial.epochs, trial.best_epoch, trial.seconds = result.epochs, result.best_epoch, result.seconds
        if best is None or (trial.val_accuracy, -trial.val_loss) > (best.val_accuracy, -best.val_loss):
            best, best_model = trial, result.model
    if best is None:
        raise DataError("every training trial failed: " + "; ".join(f"trial {t.number}: {t.error}" for t in trials))
    return trials, best_model


def leaderboard(trials: list[ImageTrial]) -> list[dict[str, Any]]:
    """Trials best first (validation accuracy, then loss), ranked; failed trials last."""
    rows = [t.to_dict() for t in trials]
    done = sorted((r for r in rows if r["error"] is None), key=lambda r: (-r["val_accuracy"], r["val_loss"]))
    for rank, row in enumerate(done, 1):
        row["rank"] = rank
    return done + [r for r in rows if r["error"] is not None]
