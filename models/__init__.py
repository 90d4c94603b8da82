"""Models: encoders that turn items into embeddings, the embedding cache, compute runners, and heads.

Nothing heavy is imported here (no torch, transformers or Ray at ``import labelloop.models``); import the
sub-module you need:

- ``labelloop.models.encoders``: :class:`EncoderSpec` (config), :func:`encoder_fingerprint` (cache key / lineage),
  :func:`load_encoder` (text: any local Hugging Face checkpoint; pixels: a fitted PCA), :class:`BatchEmbedder`
  (the callable class Ray runs, also usable on one batch without Ray).
- ``labelloop.models.embedding_cache``: :class:`EmbeddingCache`, Parquet files keyed by (fingerprint, content hash).
- ``labelloop.models.compute``: :func:`embed_items` (cache + runner), :class:`InProcessRunner`, :class:`RayRunner`,
  :func:`connect_ray`.
- ``labelloop.models.heads``: classifiers on embeddings by registry name (``make_head("logreg")``), calibration,
  expected calibration error.
"""
