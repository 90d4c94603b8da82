"""Maps the repository's root folders onto one ``labelloop`` package (labelloop.engine, labelloop.models, ...).

Only this mapping lives here; all metadata is in pyproject.toml.
"""

from setuptools import find_packages, setup

ROOTS = ["engine", "models", "strategies", "connectors"]
subpackages = find_packages(where=".", include=[f"{r}" for r in ROOTS] + [f"{r}.*" for r in ROOTS])

setup(
    packages=["labelloop", *[f"labelloop.{p}" for p in subpackages]],
    package_dir={"labelloop": "."},
)
