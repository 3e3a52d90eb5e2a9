"""The lakehouse's Spark work run elsewhere through Dagster Pipes: a subprocess here, or a Databricks job.

``LAKEHOUSE_ENGINE`` picks where each step's Spark work runs:

- ``local`` (the default): in the run's own process, on the Spark of ``LAKEHOUSE_SPARK_MASTER`` or
  ``LAKEHOUSE_SPARK_REMOTE`` (embedded, a standalone cluster, or a Spark Connect server);
- ``pipes-subprocess``: each step in a new Python process on this machine, launched with
  ``dg.PipesSubprocessClient``, with embedded Spark there;
- ``databricks``: each step as a one-time Databricks job run (``PipesDatabricksClient``), running the
  wheel built from this repository on a cluster of the workspace.

In the Pipes engines every asset of :func:`lakehouse.assets.build_assets` becomes a *step asset*
(:func:`lakehouse.pipes.steps.pipes_assets`) with the same keys, dependencies, partitions,
policies, metadata and op name, that also carries the checks of its tables. Its body only launches
``python -m lakehouse.pipes`` (:mod:`lakehouse.pipes.remote`) where the engine runs it. That entry
point builds the same definitions with the local engine and runs the step's assets and checks in
its own process, then hands every materialization (metadata per partition), check evaluation (per
partition), added run tag, log line and failure back through Pipes, and the step asset records
them in the run as a local run would. So the asset code is one; only where it runs changes.
"""

from lakehouse.pipes.engines import DatabricksEngine, PipesEngine, SubprocessEngine
from lakehouse.pipes.steps import pipes_assets

ENGINES = ("local", "pipes-subprocess", "databricks")

__all__ = ["ENGINES", "DatabricksEngine", "PipesEngine", "SubprocessEngine", "pipes_assets"]
