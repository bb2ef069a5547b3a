"""``edgekit train IMAGES``: the image branch of ``edgekit train`` (a folder of class
subfolders, an ``.npz`` of x/y, or ``digits-images``). ``train.py`` adds these options and
hands image sources here; nothing heavy is imported until training starts."""

from __future__ import annotations

import re
from pathlib import Path

import click

from edgekit.cli.options import print_table

# Tabular options that mean nothing for images: refused rather than silently ignored.
TABULAR_ONLY = ("target", "task", "models", "search_space", "cv", "metric", "categorical", "numeric", "drop")
QUICK_EPOCHS = 15


def _size(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    from edgekit.runtime.errors import ConfigError

    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX,]\s*(\d+))?\s*", value)
    if not match:
        raise ConfigError(f"image size {value!r} is not HEIGHTxWIDTH (e.g. 32x32) or one number")
    height = int(match.group(1))
    return height, int(match.group(2) or height)


IMAGE_OPTIONS = [
    click.option("--image-size", default=None, metavar="HxW", help="Images: size to resize to (default: the data's most common size, longer side <= 96)."),
    click.option("--channels", type=click.Choice(["1", "3"]), default=None, help="Images: 1 grayscale or 3 RGB (default: 3 if any image has colour)."),
    click.option("--network-size", default=None, metavar="HxW", help="Images: resolution the CNN works at (a Resizing layer inside the model)."),
    click.option("--epochs", type=click.IntRange(1), default=None, help="Images: most epochs per trial (default 60; early stopping ends sooner)."),
    click.option("--patience", type=click.IntRange(1), default=8, show_default=True, help="Images: epochs without validation improvement before stopping."),
    click.option("--validation-size", type=float, default=0.1, show_default=True, help="Images: share of each class held out for early stopping and selection."),
    click.option("--separable", is_flag=True, help="Images: depthwise-separable convolutions after the first."),
    click.option("--flip", type=click.Choice(["none", "horizontal", "vertical", "horizontal_and_vertical"]), default="none",
                 show_default=True, help="Images: random flips, with rotation/zoom/translation/brightness/contrast (not for digits or text)."),
    click.option("--no-augment", is_flag=True, help="Images: train without augmentation."),
    click.option("--model", "image_model", type=click.Choice(["cnn", "mobilenet_v2", "mobilenet_v3_small"]), default="cnn",
                 show_default=True, help="Images: the network (MobileNets from keras.applications, random or --weights)."),
    click.option("--alpha", type=click.FloatRange(0, 2, min_open=True), default=0.35, show_default=True,
                 help="Images: MobileNet width multiplier."),
    click.option("--weights", "image_weights", type=click.Path(dir_okay=False), default=None, metavar="FILE.weights.h5",
                 help="Images: local MobileNet backbone weights (frozen; a new head trains). Never downloaded."),
    click.option("--fine-tune", is_flag=True, help="Images: with --weights, then unfreeze the backbone for a few epochs."),
    click.option("--time-budget", type=click.FloatRange(0), default=None, help="Images: seconds after which no new search trial starts."),
]


def image_options(command):
    for option in reversed(IMAGE_OPTIONS):
        command = option(command)
    return command


def train_images_command(data: str, out: Path | None, *, n_iter: int | None, seed: int, test_size: float, quick: bool,
                         force: bool, image: dict, tabular: dict) -> None:
    from edgekit.runtime.errors import ConfigError
    from edgekit.train.image_api import ImageTrainConfig, train_images
    from edgekit.train.image_cnn import NO_AUGMENTATION, Augmentation

    given = [f"--{name.replace('_', '-')}" for name in TABULAR_ONLY if tabular.get(name)]
    if given:
        raise ConfigError(f"{', '.join(given)}: not for images (the class of an image is its folder or its y)")
    name = Path(str(data).rstrip("/\\")).stem or "images"
    out = out or Path("bundles") / re.sub(r"[^\w.-]+", "_", name)
    if out.exists() and not force:
        raise ConfigError(f"{out} already exists", hint="choose another --out or pass --force")
    # None lets training choose for the image size; a flip asks for the full augmentation.
    augment = NO_AUGMENTATION if image["no_augment"] else Augmentation(flip=image["flip"]) if image["flip"] != "none" else None
    config = ImageTrainConfig(
        image_size=_size(image["image_size"]), channels=int(image["channels"]) if image["channels"] else None,
        network_size=_size(image["network_size"]), n_iter=n_iter or (1 if quick else ImageTrainConfig.n_iter),
        epochs=image["epochs"] or (QUICK_EPOCHS if quick else ImageTrainConfig.epochs), patience=image["patience"],
        test_size=test_size, validation_size=image["validation_size"], seed=seed, separable=image["separable"],
        augment=augment, time_budget=image["time_budget"], model=image["image_model"], alpha=image["alpha"],
        weights=image["image_weights"], fine_tune=image["fine_tune"],
    )
    result = train_images(data, config)
    path = result.save(out, replace=force)
    report_image_training(result.card)
    if result.card.misclassified:
        click.echo(f"{len(result.card.misclassified)} misclassified test image(s) drawn in {path / 'misclassified.png'}")
    click.echo(f"bundle written to {path}")


def report_image_training(card) -> None:
    print_table(
        "Leaderboard (validation accuracy, higher is better)",
        ["rank", "trial", "val accuracy", "val loss", "epochs", "fit s", "weights", "params"],
        [(r.get("rank", "-"), r["trial"], r["val_accuracy"], r["val_loss"], r["epochs"], r["fit_seconds"], r["weights"],
          r["error"] or _params(r["params"], card.network)) for r in card.leaderboard],
    )
    m = card.test_metrics
    shown = {"accuracy": m["accuracy"], "f1_macro": m["f1_macro"], "f1_weighted": m["f1_weighted"],
             "precision_macro": m["precision_macro"], "recall_macro": m["recall_macro"], **m["top_k_accuracy"]}
    spec = card.input
    print_table(f"Test metrics ({m['images']} images, {len(card.class_names)} classes, "
                f"{spec['height']}x{spec['width']} {spec['channel_order']})", list(shown), [list(shown.values())])
    skipped = card.skipped
    if skipped:
        click.echo(f"note: skipped {len(skipped)} file(s) (listed in image_card.json):", err=True)
        for item in skipped:
            click.echo(f"  {item['file']}: {item['reason']}", err=True)


def _params(params: dict, network: dict | None = None) -> str:
    if network and network.get("architecture", "cnn") != "cnn":  # a MobileNet's width is its fixed alpha
        return f"alpha={network['alpha']:g}, lr={params['learning_rate']:.2g}"
    return (f"width={params['width']}, lr={params['learning_rate']:.2g}"
            + (", separable" if params.get("separable") else ""))
