"""labelloop: an active-learning, model-assisted labeling engine.

The repository's root folders are the package's sub-packages: ``labelloop.engine`` (store, ingest, rounds, quality,
loop, scheduling, CLI), ``labelloop.models`` (encoders, heads, versions), ``labelloop.strategies`` and
``labelloop.connectors`` (Label Studio, sources, exports). The Python API is ``labelloop.engine.api``.
"""

__version__ = "0.1.0"
