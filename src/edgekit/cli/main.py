"""Entry point: a click group whose subcommands import their stage only when run.

``edgekit predict`` on a device must never import TensorFlow, so no subcommand module is
imported until click dispatches to it. Every :class:`EdgekitError` becomes one readable
line on stderr and its exit code (2 for usage errors).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click

import edgekit
from edgekit.runtime.errors import EdgekitError

# name -> (module, attribute, one-line help shown by `edgekit --help` without importing)
COMMANDS = {
    "demo": ("edgekit.cli.demo", "demo", "Run the whole lifecycle on the embedded Auto MPG data."),
    "train": ("edgekit.cli.train", "train", "Prepare data, search candidates with CV, save the best as a bundle."),
    "convert": ("edgekit.cli.convert", "convert", "Export a bundle or any Keras/SavedModel/ONNX/TFLite model, quantised, behind a gate."),
    "predict": ("edgekit.cli.predict", "predict", "Run a model on-device: rows (CSV, JSON) for exports, raw tensors for any model file."),
    "bench": ("edgekit.cli.bench", "bench", "Benchmark a bundle's exports vs the cloud, or any model files side by side."),
    "serve": ("edgekit.cli.serve", "serve", "Serve a bundle, an export or any model file over REST (KServe V2, TF Serving)."),
    "info": ("edgekit.cli.info", "info", "Describe any model file (ops, weights, tensors), an export or a bundle."),
    "monitor": ("edgekit.cli.monitor", "monitor", "Check a prediction log for drift and performance decay."),
    "retrain": ("edgekit.cli.retrain", "retrain", "Train a challenger on new data; promote it only if better."),
    "registry": ("edgekit.cli.registry", "registry", "List, show, promote or roll back model versions."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (module, _, _) in COMMANDS.items() if importlib.util.find_spec(module) is not None]

    def get_command(self, ctx: click.Context, name: str):
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        if importlib.util.find_spec(module) is None:
            return None
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(edgekit.__version__, prog_name="edgekit")
def cli() -> None:
    """edgekit: take a model from data, or any model file, to a benchmarked on-device export."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; map errors to one line and an exit code."""
    try:
        # With standalone_mode=False click returns a command's ctx.exit(code) instead of exiting.
        code = cli.main(args=argv, prog_name="edgekit", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("edgekit: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except EdgekitError as exc:
        click.echo(f"edgekit: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("edgekit: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a bug in edgekit, not a user mistake
        if os.environ.get("EDGEKIT_DEBUG"):
            raise
        click.echo(f"edgekit: internal error: {type(exc).__name__}: {exc} (set EDGEKIT_DEBUG=1 for a traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
