"""Pre-labeling on a two-node Ray cluster, reached through ``ray://``, gives what local Ray gives.

The cluster is the one ``scripts/ray_cluster.sh`` starts: a head node and a worker node, two ``ray start`` processes
with their own raylet and object store, 1 CPU each. The drivers are ``labelloop prelabel`` processes (a driver
process can hold one Ray connection, and this pytest process may already hold local Ray): one configured with
``model.compute.ray_address: ray://127.0.0.1:PORT``, one with local Ray, each on its own copy of the same trained
project.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from labelloop.engine.api import Project
from labelloop.engine.config import parse_config
from labelloop.engine.embedding import cache_for
from labelloop.engine.prelabel import probabilities
from labelloop.engine.store import Store
from labelloop.models.encoders import EncoderSpec

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
ENCODER = {"threads": 1, "batch_size": 32}  # 1 CPU per actor: one actor fits on each 1-CPU node

# Run in a fresh driver connected through ray://: the alive nodes, the cluster's CPUs, and where two 1-CPU tasks ran
# that can only finish once both are running at the same time (so, on a 1-CPU-per-node cluster, on two nodes).
CLUSTER_FACTS = """
import json, logging, sys, time
import ray

ray.init(sys.argv[1], logging_level=logging.ERROR, log_to_driver=False)

@ray.remote(num_cpus=0)
class Barrier:
    def __init__(self):
        self.arrived = 0
    def arrive(self):
        self.arrived += 1
    def count(self):
        return self.arrived

@ray.remote(num_cpus=1)
def meet(barrier, parties):
    ray.get(barrier.arrive.remote())
    deadline = time.monotonic() + 60
    while ray.get(barrier.count.remote()) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError("the other task never started")
        time.sleep(0.05)
    return ray.get_runtime_context().get_node_id()

barrier = Barrier.remote()
print(json.dumps({
    "alive": sorted(n["NodeID"] for n in ray.nodes() if n["Alive"]),
    "cpus": ray.cluster_resources().get("CPU"),
    "task_nodes": ray.get([meet.remote(barrier, 2) for _ in range(2)]),
}))
"""


@pytest.fixture(scope="module")
def ray_cluster(repo_root: Path) -> Iterator[str]:
    """Start the two-node cluster with the project's script; stop it (only its own processes) at the end."""
    # Short root: Ray's unix sockets live under it and a socket path may not exceed 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="llray-"))
    script = ["bash", str(repo_root / "scripts" / "ray_cluster.sh")]
    env = {**os.environ, "LABELLOOP_RAY_ROOT": str(root)}
    try:
        proc = subprocess.run([*script, "start"], capture_output=True, text=True, env=env, timeout=300, check=False)
        assert proc.returncode == 0, f"ray_cluster.sh start failed:\n{proc.stderr[-3000:]}"
        address = proc.stdout.strip().splitlines()[-1]
        assert address.startswith("ray://127.0.0.1:"), address
        yield address
    finally:
        subprocess.run([*script, "stop"], capture_output=True, env=env, timeout=180, check=False)
        shutil.rmtree(root, ignore_errors=True)


def _config(data: Path, compute: dict[str, Any]) -> dict[str, Any]:
    return {
        "project": "cluster",
        "task": {"labels": LABELS},
        "source": {"path": str(data), "label_field": "label", "split_field": "split"},
        "privacy": {"spacy_model": None, "workers": 1},
        "model": {"encoder": ENCODER, "compute": compute, "head": {"min_calibration_labels": 50}},
    }


def _trec_slice(datasets_dir: Path, folder: Path) -> Path:
    """400 TREC rows: 160 labelled train rows, 40 labelled test rows, 200 unlabelled train rows to pre-label."""
    df = pd.read_csv(datasets_dir / "trec" / "trec.csv", keep_default_na=False)
    train = df[df.split == "train"].sample(360, random_state=1)
    test = df[df.split == "test"].sample(40, random_state=1)
    rows = pd.concat([train, test]).copy()
    rows.loc[rows.index[160:360], "label"] = ""
    path = folder / "trec_slice.csv"
    rows.to_csv(path, index=False)
    return path


def _prelabel(workdir: Path, config: dict[str, Any], repo_root: Path) -> dict[str, Any]:
    cfg_path = workdir.parent / f"{workdir.name}.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    cli = Path(sys.executable).with_name("labelloop")
    proc = subprocess.run(
        [str(cli), "prelabel", "--config", str(cfg_path), "--workdir", str(workdir), "--json"],
        capture_output=True,
        text=True,
        cwd=repo_root,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, f"prelabel ({workdir.name}) failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout)


def _outputs(workdir: Path, version: str) -> tuple[dict[int, str], dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Predicted label, probabilities and embedding per item id, read back from the project's store and cache."""
    store = Store.open(f"sqlite:///{workdir / 'labelloop.db'}")
    try:
        preds = store.predictions(version)
        hashes = {r["id"]: r["content_hash"] for r in store.items(columns=("id", "content_hash"))}
    finally:
        store.close()
    ids = [p["item_id"] for p in preds]
    found, vectors = cache_for(workdir, EncoderSpec(**ENCODER)).lookup([hashes[i] for i in ids])
    assert found.all()
    return (
        {p["item_id"]: p["label"] for p in preds},
        {p["item_id"]: probabilities(p) for p in preds},
        dict(zip(ids, vectors, strict=True)),
    )


def test_prelabel_through_ray_client_on_two_nodes_matches_local_ray(
    ray_cluster: str, datasets_dir: Path, repo_root: Path, tmp_path: Path
) -> None:
    facts = subprocess.run(
        [sys.executable, "-c", CLUSTER_FACTS, ray_cluster], capture_output=True, text=True, timeout=300, check=False
    )
    assert facts.returncode == 0, facts.stderr[-3000:]
    cluster = json.loads(facts.stdout.strip().splitlines()[-1])
    assert len(cluster["alive"]) == 2 and cluster["cpus"] == 2
    assert sorted(cluster["task_nodes"]) == cluster["alive"]  # one task on each node, at the same time

    # One trained project (in-process embedding: no Ray in this pytest process), copied for the two drivers.
    data = _trec_slice(datasets_dir, tmp_path)
    trained = tmp_path / "trained"
    with Project(parse_config(_config(data, {"backend": "inprocess"}), base_dir=tmp_path), workdir=trained) as p:
        p.init()
        p.ingest()
        version = p.train().model_version
    runs = {
        # 2 actors × 1 CPU on a cluster of two 1-CPU nodes: one actor per node.
        "cluster": {"backend": "ray", "ray_address": ray_cluster, "actors": 2},
        "local": {"backend": "ray", "num_cpus": 2, "actors": 2},
    }
    results: dict[str, dict[str, Any]] = {}
    outputs = {}
    for name, compute in runs.items():
        workdir = tmp_path / name
        shutil.copytree(trained, workdir)
        results[name] = _prelabel(workdir, _config(data, compute), repo_root)
        outputs[name] = _outputs(workdir, version)

    for name, result in results.items():
        assert result["model_version"] == version
        # every unlabelled item (200 rows less TREC's repeated texts) embedded and predicted, nothing from a cache
        assert 190 <= result["candidates"] == result["embedded"] == result["predictions_written"] <= 200
        print(f"prelabel {name}: {result['candidates']} items in {result['seconds']:.1f}s (driver process)")
    labels_c, probs_c, vecs_c = outputs["cluster"]
    labels_l, probs_l, vecs_l = outputs["local"]
    assert labels_c == labels_l and len(labels_c) == results["cluster"]["candidates"]
    assert len(set(labels_c.values())) > 1  # a real classifier, not one constant answer
    for item in labels_c:
        np.testing.assert_allclose(vecs_c[item], vecs_l[item], atol=1e-5, rtol=0)
        np.testing.assert_allclose(probs_c[item], probs_l[item], atol=1e-5, rtol=0)
