"""edgekit: train, convert, run on-device, benchmark and monitor tabular models.

The root package stays import-light: ``import edgekit.runtime`` on a device must not
pull in anything heavy, and every stage imports its own dependencies.
"""

__version__ = "0.1.0"
