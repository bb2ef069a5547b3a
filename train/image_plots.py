"""The misclassified test images: listed in the image card, drawn as ``misclassified.png``.

The list (test image id and index, true and predicted class, the predicted probability)
is plain JSON in the card, so a report can be rebuilt from the bundle alone; the figure is
a grid of the worst ones (most confident mistakes first), each titled
"true -> predicted (probability)". Pixels are drawn as stored (uint8, grayscale or RGB).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

MAX_LISTED = 100  # mistakes kept in the card
MAX_DRAWN = 25  # images in the figure (a 5 x 5 grid at most)
FIGURE_FILE = "misclassified.png"


def misclassified(y_true: np.ndarray, proba: np.ndarray, ids: Sequence[str], class_names: Sequence[str],
                  limit: int = MAX_LISTED) -> list[dict[str, Any]]:
    """The test images the model got wrong, most confident first."""
    predicted = np.argmax(proba, axis=1)
    wrong = np.flatnonzero(predicted != np.asarray(y_true))
    confidence = proba[wrong, predicted[wrong]] if wrong.size else np.zeros(0)
    order = wrong[np.argsort(-confidence, kind="stable")][:limit]
    return [{"index": int(i), "id": str(ids[i]), "true": str(class_names[int(y_true[i])]),
             "predicted": str(class_names[int(predicted[i])]), "probability": float(proba[i, predicted[i]])}
            for i in order]


def draw_misclassified(images: np.ndarray, mistakes: Sequence[dict[str, Any]], path: Path,
                       limit: int = MAX_DRAWN) -> Path | None:
    """``images`` are the test split's uint8 [n, h, w, c]; None when there is no mistake."""
    shown = list(mistakes)[:limit]
    if not shown:
        return None
    from edgekit.reporting import pyplot

    plt = pyplot()
    columns = min(5, len(shown))
    rows = -(-len(shown) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.0 * columns, 2.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, item in zip(axes.ravel(), shown):
        pixels = images[item["index"]]
        if pixels.shape[-1] == 1:
            ax.imshow(pixels[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(pixels, interpolation="nearest")
        ax.set_title(f"{item['true']} -> {item['predicted']} ({item['probability']:.2f})", fontsize=8)
    fig.suptitle(f"Misclassified test images ({len(mistakes)} listed in the card; true -> predicted)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
