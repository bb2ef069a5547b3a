"""``edgekit convert IMAGE_BUNDLE``: the image branch of ``edgekit convert``."""

from __future__ import annotations

import click


def convert_images(bundle, out, common: dict, foreign_only: tuple, force: bool):
    """Convert an image bundle; full-int8 TFLite takes uint8 pixels unless --int8-io says otherwise."""
    from edgekit.cli.convert import FOREIGN_ONLY, show_foreign_report
    from edgekit.convert.foreign import ForeignOptions
    from edgekit.convert.image_bundle import IMAGE_INT8_IO, convert_image_bundle
    from edgekit.runtime.errors import ConfigError

    given = [name for name, value in zip(FOREIGN_ONLY, foreign_only) if value is not None]
    if given:
        raise ConfigError(f"{', '.join(given)}: not for an image bundle",
                          hint="it calibrates on its training images and gates on its test images")
    options = dict(common)
    if click.get_current_context().get_parameter_source("int8_io") != click.core.ParameterSource.COMMANDLINE:
        options["int8_io"] = IMAGE_INT8_IO
    report = convert_image_bundle(bundle, out, ForeignOptions(**options), force=force)
    show_foreign_report(report)
    return report
