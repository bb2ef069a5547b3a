"""The ``edgekit`` command line; each subcommand lives in its own module, imported lazily."""
