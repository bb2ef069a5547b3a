"""``edgekit train``."""

from __future__ import annotations

import re
from pathlib import Path

import click

from edgekit.cli.options import csv_list, print_table
from edgekit.cli.train_images import image_options


@click.command()
@click.argument("data")
@click.option("--target", default=None, help="Column to predict (tables; required there).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Bundle folder to write (default: ./bundles/<data>-<target>).")
@click.option("--task", type=click.Choice(["regression", "classification"]), default=None, help="Override the inferred task.")
@click.option("--models", default=None, help="Comma-separated candidates: linear,svm,rf,gb,hgb,nn (default: linear,svm,rf,hgb,nn).")
@click.option("--search", "search", type=click.Choice(["grid", "random"]), default="grid", show_default=True)
@click.option("--search-space", type=click.Path(dir_okay=False), default=None, help="YAML/JSON file overriding parameter spaces.")
@click.option("--n-iter", type=click.IntRange(1), default=10, show_default=True, help="Parameter sets per candidate for random search.")
@click.option("--cv", type=click.IntRange(2), default=None, help="Cross-validation folds (default 5, fewer if there are fewer training rows).")
@click.option("--metric", default=None, help="Selection metric (default rmse / f1_macro).")
@click.option("--test-size", type=float, default=0.2, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--split", type=click.Choice(["random", "tutorial"]), default="random", show_default=True,
              help="'tutorial' reproduces TensorFlow's fuel-efficiency split.")
@click.option("--categorical", default=None, help="Columns to treat as categorical.")
@click.option("--numeric", default=None, help="Columns to treat as numeric.")
@click.option("--drop", default=None, help="Columns to ignore.")
@click.option("--impute", type=click.Choice(["median", "mean", "most_frequent"]), default="median", show_default=True)
@click.option("--quick", is_flag=True, help="Smaller search spaces.")
@click.option("--exhaustive", is_flag=True,
              help="Score every setting on every fold (default: successive halving keeps the best third per round).")
@click.option("--jobs", type=int, default=-1, show_default=True, help="Parallel fits (-1: all cores).")
@click.option("--scheduler", default=None, metavar="local[:N]|tcp://HOST:PORT",
              help="Run the cross-validation fits on a Dask cluster (needs edgekit[dask]; --jobs is then unused).")
@click.option("--force", is_flag=True, help="Replace an existing --out folder (atomically).")
@image_options
def train(data, target, out, task, models, search, search_space, n_iter, cv, metric, test_size, seed, split,
          categorical, numeric, drop, impute, quick, exhaustive, jobs, scheduler, force, **image):
    """Train and select a model on DATA (a .csv/.parquet file or a bundled dataset name), or a CNN on images
    (a folder with one subfolder per class, an .npz with x and y, or digits-images)."""
    from edgekit.runtime.errors import ConfigError
    from edgekit.train.image_data import is_image_source

    if is_image_source(data):
        if scheduler is not None:
            raise ConfigError("--scheduler runs the search of tables; an image CNN trains in this process")
        from edgekit.cli.train_images import train_images_command

        explicit = click.get_current_context().get_parameter_source("n_iter") == click.core.ParameterSource.COMMANDLINE
        tabular = dict(target=target, task=task, models=models, search_space=search_space, cv=cv, metric=metric,
                       categorical=categorical, numeric=numeric, drop=drop)
        train_images_command(data, out, n_iter=n_iter if explicit else None, seed=seed, test_size=test_size,
                             quick=quick, force=force, image=image, tabular=tabular)
        return
    if target is None:
        raise ConfigError("--target is required for tables", hint="the column to predict, e.g. --target mpg")
    from edgekit.train import TrainConfig
    from edgekit.train import train as run_train

    # The default name comes from the data: a column named '../../x' must not leave ./bundles.
    out = out or Path("bundles") / re.sub(r"[^\w.-]+", "_", f"{Path(data).stem}-{target}")
    if out.exists() and not force:
        raise ConfigError(f"{out} already exists", hint="choose another --out or pass --force")
    config = TrainConfig(
        target=target, task=task, models=csv_list(models) or None, search=search, n_iter=n_iter, cv=cv,
        metric=metric, test_size=test_size, seed=seed, split=split, categorical=csv_list(categorical),
        numeric=csv_list(numeric), drop=csv_list(drop), impute=impute, search_space=search_space, quick=quick,
        exhaustive=exhaustive,
    )
    result = run_train(data, config, n_jobs=jobs, scheduler=scheduler)
    path = result.save(out, replace=force)
    report_training(result.card)
    click.echo(f"bundle written to {path}")


def report_training(card) -> None:
    """Print the leaderboard and the winner's test metrics."""
    metric = card.metric["name"]
    print_table(
        f"Leaderboard ({card.config['cv']}-fold CV {metric}, {'higher' if card.metric['greater_is_better'] else 'lower'} is better)",
        ["rank", "model", f"CV {metric}", "± std", "fit s", "params"],
        [(r.get("rank", "-"), r["name"], r["cv_mean"], r["cv_std"], r["fit_seconds"], format_params(r["params"]) if r["params"] else r["error"])
         for r in card.leaderboard],
    )
    shown = {k: v for k, v in card.test_metrics.items() if k != "confusion_matrix"}
    print_table(f"Test metrics of {card.winner['name']} ({card.preparation['split']['test_rows']} rows)", list(shown), [list(shown.values())])
    for column, reason in card.preparation["dropped_columns"].items():
        click.echo(f"note: dropped column {column!r}: {reason}", err=True)


def format_params(params: dict) -> str:
    from edgekit.train.search import format_params as describe

    return describe(params)
