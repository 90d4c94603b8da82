"""Operations metrics, drift monitoring and the Prometheus endpoint.

* :mod:`.ops`: throughput, lead time, turnaround, backlog, pre-label acceptance, auto-label share, cost and labels
  saved, from the store's label events, rounds and pushed tasks (:func:`.ops.ops_from_store`).
* :mod:`.drift`: embedding, predicted-label and confidence drift between a model's training data and a new batch
  (:func:`.drift.detect_drift`).
* :mod:`.prometheus`: those numbers as Prometheus metrics (``labelloop metrics serve``) or pushed to a Pushgateway.

Nothing is imported here, so that ``import labelloop.engine.metrics`` stays cheap.
"""
