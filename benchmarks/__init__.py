"""edgekit.benchmarks: on-device vs cloud measurements with one metric schema.

Kept import-light: the on-device worker (``edge_worker``) runs in a fresh process that
must import nothing but the runtime. Import ``edgekit.benchmarks.api`` for ``run_bench``.
"""
