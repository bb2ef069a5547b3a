"""edgekit.scale: batch scoring on a Dask cluster, from one flag.

>>> from edgekit.scale import score_to_parquet
>>> score_to_parquet("model.onnx", "data/*.parquet", "preds/", scheduler="local:2", id_column="id")

``edgekit predict MODEL INPUT --out FOLDER --scheduler local[:N] | tcp://HOST:8786`` runs
it from the command line. Needs the ``dask`` extra (``pip install 'edgekit[dask]'``) on the
driver and on every worker, plus the model's backend extra (``onnx`` or ``litert``) on the
workers. The device runtime (edgekit.runtime) never imports this package or Dask.
"""

from __future__ import annotations

from edgekit.runtime.errors import MissingDependencyError

try:  # fail with the extra to install, not a bare ImportError deep inside a run
    import dask  # noqa: F401
    import distributed  # noqa: F401
    import pyarrow  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError(exc.name or "dask", "dask", purpose="for --scheduler (batch scoring and the search on Dask)") from exc

from edgekit.scale.cluster import SchedulerSpec, parse_scheduler  # noqa: E402
from edgekit.scale.job import ScoreResult, score_to_parquet  # noqa: E402
from edgekit.scale.output import MANIFEST_NAME  # noqa: E402

__all__ = ["score_to_parquet", "ScoreResult", "SchedulerSpec", "parse_scheduler", "MANIFEST_NAME"]
