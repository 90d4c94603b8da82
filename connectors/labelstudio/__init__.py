"""Label Studio connector: a local server (``server``), a thin client (``client``), plain types (``types``),
labeling configs (``config``) and a simulated annotator for tests and demos (``simulator``).

Import what you need from the submodules; this package imports nothing at import time, so importing
``labelloop.connectors.labelstudio.types`` never loads the SDK.
"""
