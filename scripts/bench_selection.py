"""Selection speed benchmark: every registered strategy picking 1,000 items from 100,000, and faiss vs
scikit-learn on the k-means and nearest-neighbour paths the strategies use.

Data (synthetic, seeded): 101,000 × 384 float32 embeddings from a 50-component Gaussian mixture; 1,000 of them are
"labeled", 100,000 form the unlabeled pool. ``proba`` (n, 10) comes from a random linear head (softmax of x·W + b);
``proba_samples`` (n, 10, T=10) from 10 copies of that head with Gaussian weight noise (a stand-in for MC-dropout
passes); ``committee_proba`` (5, n, 10) from 5 independently perturbed heads; ``labels`` of the labeled items are
the head's argmax. Each strategy runs once with its default parameters (wrappers: ``subsample`` around BADGE with
``max_pool=20000``, ``class-balanced`` around margin); building :class:`StrategyInputs` (validation) is timed
separately.

faiss vs scikit-learn, same data, same run (ratio = scikit-learn seconds / faiss seconds; > 1: faiss faster), each
time the best of ``--repeats`` runs with faiss and scikit-learn alternating, float32 inputs, one thread cap for both
(``--threads``: faiss OpenMP and every BLAS/OpenMP pool through threadpoolctl):
* kmeans (headline, like-for-like): the job the strategies run, k-means on a seeded sample of
  ``max_points_per_centroid`` × 1,000 rows (the ``kmeans`` strategy's default), then every one of the 100,000 rows
  assigned. Both libraries get the *same* sample rows: faiss ``Kmeans(niter=10)`` + ``IndexFlatL2`` search vs
  ``sklearn.cluster.KMeans(n_clusters=1000, init="random", n_init=1, max_iter=10, tol=0, algorithm="lloyd")`` fit
  + ``score`` over all rows. Inertias over all rows are reported. Also reported: the same work on all 100,000 rows
  every iteration; our actual call (``_faiss_ops.kmeans``, which lets faiss draw the sample) against scikit-learn
  on all rows, the earlier, not like-for-like headline; and both with k-means++ seeding.
* knn (headline): the core-set path, exact 1-NN of the 100,000 unlabeled rows among the 1,000 labeled rows: faiss
  ``IndexFlatL2`` (``_faiss_ops.nearest``) vs ``NearestNeighbors(n_neighbors=1, algorithm="brute")``, both exact
  (agreement reported). Also measured, not used by the strategies: an approximate faiss ``IndexIVFFlat`` (32
  lists, nprobe 4) with its recall@1 against the exact neighbours.

Usage: ``.venv/bin/python scripts/bench_selection.py [--out bench] [--threads 1] [--repeats 3] [--only NAME ...]``
Writes ``<out>/selection.json`` and ``<out>/selection.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from labelloop.strategies import StrategyInputs, available_strategies, make_strategy

N_UNLABELED, N_LABELED, DIM, N_CLASSES, T_PASSES, N_MEMBERS, N_PICK = 100_000, 1_000, 384, 10, 10, 5, 1_000
TARGET_SECONDS, TARGET_RATIO = 30.0, 3.0
WRAPPER_PARAMS: dict[str, dict[str, Any]] = {
    "subsample": {"base": {"name": "badge"}, "max_pool": 20_000},
    "class-balanced": {"base": {"name": "margin"}},
}


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def make_data(seed: int = 0) -> tuple[StrategyInputs, np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    n = N_UNLABELED + N_LABELED
    centers = rng.standard_normal((50, DIM)).astype(np.float32) * 0.5
    emb = centers[rng.integers(50, size=n)] + rng.standard_normal((n, DIM), dtype=np.float32) * 0.3
    w = rng.standard_normal((DIM, N_CLASSES)).astype(np.float32) * (3.0 / np.sqrt(DIM))
    b = rng.standard_normal(N_CLASSES).astype(np.float32) * 0.1
    proba = softmax(emb @ w + b)
    samples = np.stack(
        [softmax(emb @ (w + rng.standard_normal(w.shape, dtype=np.float32) * 0.05) + b) for _ in range(T_PASSES)],
        axis=2,
    )
    committee = np.stack(
        [softmax(emb @ (w + rng.standard_normal(w.shape, dtype=np.float32) * 0.1) + b) for _ in range(N_MEMBERS)]
    )
    perm = rng.permutation(n)
    labeled, unlabeled = np.sort(perm[:N_LABELED]), np.sort(perm[N_LABELED:])
    t0 = time.perf_counter()
    inputs = StrategyInputs(
        proba=proba,
        proba_samples=samples,
        committee_proba=committee,
        embeddings=emb,
        labels=proba.argmax(axis=1).astype(np.int64),
    )
    return inputs, unlabeled, labeled, time.perf_counter() - t0


def bench_strategies(inputs: StrategyInputs, unl: np.ndarray, lab: np.ndarray, names: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in names:
        strategy = make_strategy(name, **WRAPPER_PARAMS.get(name, {}))
        t0 = time.perf_counter()
        picks = strategy.query(inputs, unl, lab, N_PICK, rng=np.random.default_rng(123))
        out[name] = round(time.perf_counter() - t0, 3)
        if np.unique(picks).size != N_PICK:
            raise RuntimeError(f"{name} returned {np.unique(picks).size} unique picks")
        print(f"{name:>20s} {out[name]:8.2f} s", flush=True)
    return out


def _timed(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """(best seconds, every run's seconds, last result): the minimum over repeats is the least disturbed by other
    work on a shared machine."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(round(time.perf_counter() - t0, 3))
    return min(times), times, out


def bench_faiss_vs_sklearn(
    inputs: StrategyInputs, unl: np.ndarray, lab: np.ndarray, *, skip_kmeanspp: bool = False, repeats: int = 3
) -> dict[str, Any]:
    """Time the faiss paths against scikit-learn doing the same job on the same data (see the module docstring).
    Each timing is the best of ``repeats`` runs, faiss and scikit-learn alternating."""
    import faiss
    from sklearn.cluster import KMeans

    from labelloop.strategies._faiss_ops import kmeans as faiss_kmeans
    from labelloop.strategies.diversity import KMeansSampling

    emb = inputs.embeddings
    x = np.ascontiguousarray(emb[unl], dtype=np.float32)
    xl = np.ascontiguousarray(emb[lab], dtype=np.float32)
    res: dict[str, Any] = {}
    mppc = KMeansSampling().max_points_per_centroid
    n_train = min(x.shape[0], mppc * N_PICK)
    rows = np.sort(np.random.default_rng(1).choice(x.shape[0], size=n_train, replace=False))
    x_train = np.ascontiguousarray(x[rows])

    def sk_kmeans(train: np.ndarray) -> tuple[float, int]:
        km = KMeans(n_clusters=N_PICK, init="random", n_init=1, max_iter=10, tol=0.0, algorithm="lloyd", random_state=1)
        km.fit(train)
        inertia = float(-km.score(x)) if train.shape[0] != x.shape[0] else float(km.inertia_)
        return inertia, int(km.n_iter_)

    def faiss_km(train: np.ndarray) -> float:
        # max_points_per_centroid large enough that faiss trains on every row it is given (no further subsample).
        km = faiss.Kmeans(DIM, N_PICK, niter=10, seed=1, max_points_per_centroid=10**6, min_points_per_centroid=1)
        km.train(train)
        d, _ = km.index.search(x, 1)
        return float(d.astype(np.float64).sum())

    def path() -> float:
        out = faiss_kmeans(x, N_PICK, niter=10, rng=np.random.default_rng(1), max_points_per_centroid=mppc)
        return float(out.sq_dist.astype(np.float64).sum())

    # Headline, like-for-like: the strategies' job (train on n_train rows, then assign all rows), the same rows for
    # both libraries; same k, 10 iterations (tol 0), random init, n_init 1, float32, same thread cap.
    t_sk_sub, sk_sub_all, t_f_sub, f_sub_all = [], [], [], []
    for _ in range(repeats):
        t, _, (sk_sub_inertia, sk_sub_iter) = _timed(lambda: sk_kmeans(x_train), 1)
        t_sk_sub.append(t)
        t, _, f_sub_inertia = _timed(lambda: faiss_km(x_train), 1)
        t_f_sub.append(t)
    t_path, path_all, path_inertia = _timed(path, repeats)
    print(f"kmeans on {n_train} rows + assign: sklearn {t_sk_sub} faiss {t_f_sub} path {path_all}", flush=True)
    # Same work on all rows every iteration.
    t_sk_full, t_f_full = [], []
    for _ in range(repeats):
        t, _, (sk_inertia, sk_iter) = _timed(lambda: sk_kmeans(x), 1)
        t_sk_full.append(t)
        t, _, f_full_inertia = _timed(lambda: faiss_km(x), 1)
        t_f_full.append(t)
    print(f"kmeans all rows: sklearn {t_sk_full} faiss {t_f_full}", flush=True)
    sk_sub_all, f_sub_all = t_sk_sub, t_f_sub
    res["kmeans"] = {
        "faiss_seconds": min(f_sub_all),
        "sklearn_seconds": min(sk_sub_all),
        "ratio": round(min(sk_sub_all) / min(f_sub_all), 2),
        "runs_seconds": {"faiss": f_sub_all, "sklearn": sk_sub_all},
        "training_rows": n_train,
        "faiss_max_points_per_centroid": mppc,
        "faiss_inertia": f_sub_inertia,
        "sklearn_inertia": sk_sub_inertia,
        "sklearn_n_iter": sk_sub_iter,
        "strategy_path_seconds": t_path,
        "strategy_path_runs_seconds": path_all,
        "strategy_path_inertia": path_inertia,
        "same_work_faiss_seconds": min(t_f_full),
        "same_work_sklearn_seconds": min(t_sk_full),
        "same_work_ratio": round(min(t_sk_full) / min(t_f_full), 2),
        "same_work_runs_seconds": {"faiss": t_f_full, "sklearn": t_sk_full},
        "same_work_faiss_inertia": f_full_inertia,
        "same_work_sklearn_inertia": sk_inertia,
        "same_work_sklearn_n_iter": sk_iter,
        "subsample_vs_full_ratio": round(min(t_sk_full) / t_path, 2),
    }

    # The floor: the float32 matrix products exact Lloyd cannot avoid (numpy's BLAS, same thread cap): one
    # train × centroids product per iteration, then all rows × centroids to assign. No library doing this exact job
    # can beat it, so sklearn / floor bounds any ratio.
    centroids_t = np.ascontiguousarray(x_train[:N_PICK].T)
    t_mm_train, _, _ = _timed(lambda: x_train @ centroids_t, repeats)
    t_mm_all, _, _ = _timed(lambda: x @ centroids_t, repeats)
    floor = 10 * t_mm_train + t_mm_all
    res["kmeans"].update(
        {
            "gemm_floor_seconds": round(floor, 3),
            "faiss_over_gemm_floor": round(min(f_sub_all) / floor, 2),
            "max_ratio_at_gemm_floor": round(min(sk_sub_all) / floor, 2),
        }
    )
    print(f"kmeans GEMM floor {floor:.2f} s (10 x {t_mm_train:.3f} + {t_mm_all:.3f})", flush=True)

    if not skip_kmeanspp:
        # Extra, not the headline ratio: both seeded with k-means++ (scikit-learn's default init; ours for faiss).
        t_faiss_pp, _, ours_pp = _timed(
            lambda: faiss_kmeans(
                x, N_PICK, niter=10, rng=np.random.default_rng(1), max_points_per_centroid=256, init="kmeans++"
            ),
            1,
        )
        t_sk_pp, _, sk_pp = _timed(
            lambda: KMeans(n_clusters=N_PICK, init="k-means++", n_init=1, max_iter=10, tol=0.0, random_state=1).fit(x),
            1,
        )
        res["kmeans"].update(
            {
                "kmeanspp_faiss_seconds": round(t_faiss_pp, 3),
                "kmeanspp_sklearn_seconds": round(t_sk_pp, 3),
                "kmeanspp_ratio": round(t_sk_pp / t_faiss_pp, 2),
                "kmeanspp_faiss_inertia": float(ours_pp.sq_dist.astype(np.float64).sum()),
                "kmeanspp_sklearn_inertia": float(sk_pp.inertia_),
            }
        )
        print(f"kmeans++ faiss {t_faiss_pp:.2f} s sklearn {t_sk_pp:.2f} s", flush=True)
    return _bench_knn(x, xl, res, repeats)


def _bench_knn(x: np.ndarray, xl: np.ndarray, res: dict[str, Any], repeats: int) -> dict[str, Any]:
    """kNN (the core-set path): exact 1-NN of every unlabeled row among the labeled rows, both exact, float32 in."""
    import faiss
    from sklearn.neighbors import NearestNeighbors

    from labelloop.strategies._faiss_ops import nearest

    def sk() -> np.ndarray:
        return NearestNeighbors(n_neighbors=1, algorithm="brute").fit(xl).kneighbors(x)[1]

    def ivf() -> np.ndarray:
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(DIM), DIM, 32)
        index.train(xl)
        index.add(xl)
        index.nprobe = 4
        return index.search(x, 1)[1]

    f_all, s_all = [], []
    for _ in range(repeats):
        t, _, (_, i1) = _timed(lambda: nearest(x, xl, 1), 1)
        f_all.append(t)
        t, _, i2 = _timed(sk, 1)
        s_all.append(t)
    print(f"knn faiss {f_all} sklearn {s_all}", flush=True)
    # Approximate faiss index, measured and reported, not used by the strategies: IVF over the 1,000 labeled rows.
    t_ivf, ivf_all, i3 = _timed(ivf, repeats)
    print(f"knn faiss IVF32/nprobe4 {ivf_all}", flush=True)
    xl_t = np.ascontiguousarray(xl.T)
    t_floor, _, _ = _timed(lambda: x @ xl_t, repeats)  # the one float32 product exact 1-NN cannot avoid
    res["knn"] = {
        "faiss_seconds": min(f_all),
        "sklearn_seconds": min(s_all),
        "ratio": round(min(s_all) / min(f_all), 2),
        "runs_seconds": {"faiss": f_all, "sklearn": s_all},
        "same_neighbour_fraction": float(np.mean(i1[:, 0] == i2[:, 0])),
        "ivf_seconds": t_ivf,
        "ivf_ratio": round(min(s_all) / t_ivf, 2),
        "ivf_recall_at_1": float(np.mean(i3[:, 0] == i2[:, 0])),
        "gemm_floor_seconds": round(t_floor, 3),
        "faiss_over_gemm_floor": round(min(f_all) / t_floor, 2),
        "max_ratio_at_gemm_floor": round(min(s_all) / t_floor, 2),
    }
    return res


def contention_note(meta: dict[str, Any]) -> list[str]:
    """A caveat paragraph when the load average exceeded the core count during the run."""
    load = max(meta["loadavg_before"][0], meta["loadavg_after"][0])
    if load <= meta["cpus"]:
        return []
    return [
        f"Contention caveat: the 1-minute load average reached {load:.1f} on {meta['cpus']} CPUs, so every "
        "absolute time above is inflated by waiting for a core (the under-30 s column says how long a pick took "
        "on this machine at this load, not on an idle one), and each side of a ratio was slowed by a different, "
        "unmeasured amount: read the ratios under this load as uncertain. Each strategy timing is one run; the faiss / "
        "scikit-learn timings are the best of their repeats.",
        "",
    ]


def _floor_rows(km: dict[str, Any], kn: dict[str, Any]) -> list[str]:
    """Table rows for the float32 matrix-product floor (absent in results from before it was measured)."""
    if "gemm_floor_seconds" not in km:
        return []
    return [
        f"| kmeans **floor**: only the float32 matrix products exact Lloyd needs (numpy BLAS: 10 × "
        f"{km['training_rows']:,}×{DIM}·{DIM}×{N_PICK:,}, then {N_UNLABELED:,}×{DIM}·{DIM}×{N_PICK:,}); "
        f"faiss takes {km['faiss_over_gemm_floor']:.2f}× this | {km['gemm_floor_seconds']:.2f} | "
        f"{km['sklearn_seconds']:.2f} | {km['max_ratio_at_gemm_floor']:.2f} (most possible) | – |",
        f"| knn **floor**: only the float32 product {N_UNLABELED:,}×{DIM}·{DIM}×{N_LABELED:,} (numpy BLAS); faiss "
        f"takes {kn['faiss_over_gemm_floor']:.2f}× this | {kn['gemm_floor_seconds']:.2f} | "
        f"{kn['sklearn_seconds']:.2f} | {kn['max_ratio_at_gemm_floor']:.2f} (most possible) | – |",
    ]


def write_markdown(path: Path, result: dict[str, Any]) -> None:
    sel = result["selection_seconds"]
    lines = [
        "# Selection speed",
        "",
        f"Run {result['meta']['timestamp']} on {result['meta']['cpus']} CPUs ({result['meta']['machine']}), "
        f"threads: {result['meta']['threads']} (faiss OpenMP {result['meta']['faiss_omp_threads']}); "
        f"load average (1, 5, 15 min) before/after {result['meta']['loadavg_before']} / "
        f"{result['meta']['loadavg_after']}: the machine is shared, so other work competed for the 2 cores.",
        f"Command: `{result['meta']['command']}`.",
        "",
        f"Pick {N_PICK:,} from {N_UNLABELED:,} unlabeled × {DIM} float32 embeddings ({N_LABELED:,} more labeled); "
        "synthetic 50-component Gaussian-mixture embeddings, proba (10 classes) from a random linear head, "
        f"T={T_PASSES} passes from weight-noised copies of the head (MC-dropout stand-in), committee of "
        f"{N_MEMBERS} perturbed heads. One run per strategy, default parameters; wrappers: "
        "`subsample` = BADGE on a 20,000-item subsample, `class-balanced` around margin. "
        f"Building/validating the inputs took {result['meta']['inputs_seconds']:.2f} s (not included).",
        "",
        f"| strategy | seconds | under {TARGET_SECONDS:.0f} s |",
        "|---|---:|:---:|",
    ]
    for name, s in sorted(sel.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {name} | {s:.2f} | {'yes' if s < TARGET_SECONDS else '**no**'} |")
    fv = result["faiss_vs_sklearn_detail"]
    km, kn = fv["kmeans"], fv["knn"]
    rel = km["faiss_inertia"] / km["sklearn_inertia"] - 1.0  # like-for-like: same training rows
    has_pp = "kmeanspp_ratio" in km
    pp_row = (
        f"| kmeans, both k-means++ seeded (faiss + our lazy D² seeding vs sklearn's default greedy k-means++), all "
        f"rows | {km['kmeanspp_faiss_seconds']:.2f} | {km['kmeanspp_sklearn_seconds']:.2f} | "
        f"{km['kmeanspp_ratio']:.2f} | – |"
        if has_pp
        else "| kmeans, both k-means++ seeded: not run (--skip-kmeanspp) | – | – | – | – |"
    )
    lines += [
        "",
        "## faiss vs scikit-learn (same data, same run; ratio = sklearn / faiss)",
        "",
        f"| path | faiss s | sklearn s | ratio | ≥ {TARGET_RATIO:.0f}× |",
        "|---|---:|---:|---:|:---:|",
        f"| **kmeans** (headline, like-for-like): the strategies' job, {N_PICK:,} clusters, 10 iterations (tol 0), "
        f"random init, n_init 1, trained on the same {km['training_rows']:,} rows "
        f"({km['faiss_max_points_per_centroid']}/centroid, the `kmeans` strategy's default), then all "
        f"{N_UNLABELED:,} rows assigned; faiss `Kmeans` + `IndexFlatL2` search vs sklearn `KMeans(algorithm='lloyd')` "
        f"fit + score | {km['faiss_seconds']:.2f} | {km['sklearn_seconds']:.2f} | {km['ratio']:.2f} | "
        f"{'yes' if km['ratio'] >= TARGET_RATIO else '**no**'} |",
        f"| kmeans, same work on all {N_UNLABELED:,} rows every iteration | {km['same_work_faiss_seconds']:.2f} | "
        f"{km['same_work_sklearn_seconds']:.2f} | {km['same_work_ratio']:.2f} | – |",
        f"| kmeans, not like-for-like (earlier headline): our path (`_faiss_ops.kmeans`, {km['training_rows']:,} "
        f"rows) vs sklearn on all {N_UNLABELED:,} rows | {km['strategy_path_seconds']:.2f} | "
        f"{km['same_work_sklearn_seconds']:.2f} | {km['subsample_vs_full_ratio']:.2f} | – |",
        pp_row,
        f"| **knn** (headline): exact 1-NN, {N_UNLABELED:,} queries vs {N_LABELED:,} labeled (core-set init), "
        "float32 in, faiss `IndexFlatL2` vs sklearn `NearestNeighbors(algorithm='brute')` | "
        f"{kn['faiss_seconds']:.2f} | {kn['sklearn_seconds']:.2f} | {kn['ratio']:.2f} | "
        f"{'yes' if kn['ratio'] >= TARGET_RATIO else '**no**'} |",
        f"| knn, approximate IVF (32 lists, nprobe 4; recall@1 {kn['ivf_recall_at_1']:.4f}), not used | "
        f"{kn['ivf_seconds']:.2f} | {kn['sklearn_seconds']:.2f} | {kn['ivf_ratio']:.2f} | – |",
        *_floor_rows(km, kn),
        "",
        f"Each time is the best of {result['meta'].get('repeats', 1)} runs (faiss and scikit-learn alternating; "
        "every run in selection.json). "
        f"k-means inertia over all {N_UNLABELED:,} rows: like-for-like faiss {km['faiss_inertia']:.4g} vs "
        f"scikit-learn {km['sklearn_inertia']:.4g} ({rel:+.2%}); our path {km['strategy_path_inertia']:.4g} (its "
        f"{km['strategy_path_seconds']:.2f} s is the faiss like-for-like job, with faiss drawing its own sample); same "
        "work on all "
        f"rows: faiss {km['same_work_faiss_inertia']:.4g}, scikit-learn {km['same_work_sklearn_inertia']:.4g} "
        f"({km['same_work_sklearn_n_iter']} iterations)"
        + (
            f"; k-means++: faiss {km['kmeanspp_faiss_inertia']:.4g} vs scikit-learn "
            f"{km['kmeanspp_sklearn_inertia']:.4g}"
            if has_pp
            else ""
        )
        + ". Exact 1-NN agreement faiss/scikit-learn: "
        f"{kn['same_neighbour_fraction']:.4f}.",
        "",
        f"Reading: given the same rows, k, iterations, dtype and threads (like-for-like: {km['ratio']:.2f}×; all "
        f"rows: {km['same_work_ratio']:.2f}×), both libraries spend the k-means time in one float32 BLAS matrix "
        f"product per pass (rows × {N_PICK:,} × {DIM}), and faiss has no algorithmic shortcut for exact Lloyd or "
        "exact flat search, so the 3× target is not reachable without giving scikit-learn less work. The earlier "
        f"headline ({km['subsample_vs_full_ratio']:.2f}× here) compared our subsampled path with scikit-learn on "
        "every row: that speed-up is the subsample's, and scikit-learn gets it too when handed the same rows. For "
        "kNN, scikit-learn's brute search upcasts float32 chunks to float64 for its matrix product (its design "
        "choice, for accuracy) while faiss stays in float32, which is where its "
        f"{kn['ratio']:.2f}× comes from; the approximate IVF index does not help at this shape (only "
        f"{N_LABELED:,} base rows; its list scan is not a BLAS product).",
        "",
        *contention_note(result["meta"]),
        "Misses: " + (", ".join(result["misses"]) if result["misses"] else "none"),
        "",
    ]
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench"))
    parser.add_argument("--only", nargs="*", default=None, help="strategy names (default: all registered)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="cap faiss OpenMP threads and BLAS/OpenMP thread pools (numpy, scikit-learn) at this many; "
        "default: library defaults (all cores)",
    )
    parser.add_argument(
        "--skip-kmeanspp", action="store_true", help="skip the extra k-means++ line (scikit-learn's seeding is slow)"
    )
    parser.add_argument("--skip-compare", action="store_true", help="skip the faiss vs scikit-learn comparison")
    parser.add_argument("--repeats", type=int, default=3, help="runs per faiss/scikit-learn timing (best is kept)")
    parser.add_argument("--render-only", action="store_true", help="re-write selection.md from selection.json")
    args = parser.parse_args()
    if args.render_only:
        write_markdown(args.out / "selection.md", json.loads((args.out / "selection.json").read_text()))
        return
    import faiss
    from threadpoolctl import threadpool_limits

    load_before = [round(v, 2) for v in os.getloadavg()]
    inputs, unl, lab, t_inputs = make_data()
    names = args.only or available_strategies()
    if args.threads is not None:
        faiss.omp_set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        selection = bench_strategies(inputs, unl, lab, names)
        compare = (
            {}
            if args.skip_compare
            else bench_faiss_vs_sklearn(inputs, unl, lab, skip_kmeanspp=args.skip_kmeanspp, repeats=args.repeats)
        )
    misses = [f"{k} {v:.1f} s ≥ {TARGET_SECONDS:.0f} s" for k, v in selection.items() if v >= TARGET_SECONDS]
    misses += [
        f"faiss {k} ratio {v['ratio']:.2f} < {TARGET_RATIO:.0f}"
        for k, v in compare.items()
        if v["ratio"] < TARGET_RATIO
    ]
    result = {
        "selection_seconds": selection,
        "faiss_vs_sklearn": {k: v["ratio"] for k, v in compare.items()},
        "faiss_vs_sklearn_detail": compare,
        "targets": {"selection_seconds_below": TARGET_SECONDS, "faiss_ratio_at_least": TARGET_RATIO},
        "misses": misses,
        "meta": {
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join([".venv/bin/python", "scripts/bench_selection.py", *sys.argv[1:]]),
            "threads": args.threads if args.threads is not None else "library defaults",
            "faiss_omp_threads": faiss.omp_get_max_threads(),
            "cpus": os.cpu_count(),
            "machine": platform.processor() or platform.machine(),
            "loadavg_before": load_before,
            "loadavg_after": [round(v, 2) for v in os.getloadavg()],
            "n_unlabeled": N_UNLABELED,
            "n_labeled": N_LABELED,
            "dim": DIM,
            "n_classes": N_CLASSES,
            "t_passes": T_PASSES,
            "committee_members": N_MEMBERS,
            "n_pick": N_PICK,
            "inputs_seconds": round(t_inputs, 3),
            "repeats": args.repeats,
            "versions": {p: version(p) for p in ("numpy", "scipy", "scikit-learn", "faiss-cpu")},
            "wrapper_params": WRAPPER_PARAMS,
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "selection.json").write_text(json.dumps(result, indent=2) + "\n")
    if compare:
        write_markdown(args.out / "selection.md", result)
    print(
        json.dumps(
            {"selection_seconds": selection, "faiss_vs_sklearn": result["faiss_vs_sklearn"], "misses": misses}, indent=2
        )
    )


if __name__ == "__main__":
    main()
