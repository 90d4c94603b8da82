"""Label quality on real data: agreement, adjudication, label-error detection and auto-labeling.

Writes bench/quality.json and bench/quality.md.

    .venv/bin/python scripts/bench_quality.py            # the full run (~5-10 min on 2 shared cores)
    .venv/bin/python scripts/bench_quality.py --seeds 1  # a smoke run, not a result

Parts (protocols in detail in the written markdown, see ``PROTOCOLS``):

1. Agreement on ConvAbuse (first annotations only): :mod:`labelloop.engine.quality.agreement` next to
   scikit-learn / statsmodels / krippendorff on the same ratings.
2. Adjudication on ConvAbuse: majority vote, Dawid-Skene and CROWDLAB against labels they never saw.
3. Label-error detection: 5% of TREC (coarse, train split) / AG News labels flipped; cleanlab flags vs the flips.
4. Auto-labeling at a 0.95 precision target on TREC and AG News: thresholds from a calibration split, precision
   measured on the pool's true labels.

Embeddings: all-MiniLM-L6-v2 through :func:`labelloop.engine.simulate.embed_texts` and its on-disk cache (shared
with scripts/bench_strategies.py). Heads: scikit-learn logistic regression, ``C`` as tuned for the dataset in
bench/strategies.json (TREC 5, AG News 1); ConvAbuse uses C=1 (not tuned).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# threaded BLAS on 2 shared cores made each logistic-regression fit ~10x slower (measured: 8.3 s vs 0.8 s CPU)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import krippendorff
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score
from sklearn.model_selection import train_test_split
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from labelloop.engine.quality import agreement as ours
from labelloop.engine.quality.adjudication import ADJUDICATORS, adjudicate, vote_counts
from labelloop.engine.quality.autolabel import (
    apply_thresholds,
    choose_threshold,
    choose_thresholds_per_class,
)
from labelloop.engine.quality.label_errors import find_suspects, out_of_fold_probs

log = logging.getLogger("bench_quality")

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("LABELLOOP_DATASETS", REPO.parent / "shared" / "datasets"))
LEVELS = [-3, -2, -1, 0, 1]  # ConvAbuse is_abuse: very strongly abusive ... not abusive (ordinal)
C_BY_DATASET = {"trec": 5.0, "ag_news": 1.0, "convabuse": 1.0}
TARGET, ALPHA = 0.95, 0.05

PROTOCOLS = {
    "agreement": (
        "ConvAbuse, rows with `annotation_index == 1` (one rating per item and annotator), label = `is_abuse` "
        "(5 ordered levels -3..1). Percent agreement: share of agreeing annotator pairs per item, mean over items "
        "with ≥ 2 ratings; reference = per-item Σ n_c(n_c-1) / n(n-1) from a pandas count table. Cohen's kappa: "
        "mean over the annotator pairs with ≥ 20 items in common; reference = `sklearn.metrics.cohen_kappa_score`. "
        "Fleiss' kappa: items with the most common number of ratings (3); reference = statsmodels on a count "
        "table built independently with pandas. Krippendorff's alpha (nominal and ordinal, all items): reference "
        "= the `krippendorff` package on the annotator × item matrix."
    ),
    "adjudication": (
        "ConvAbuse, 5 classes. Protocol A (main figure, items with ≥ 3 raters): per item one rater is held out at "
        "random; the adjudicators see every other vote of every item (items with 2 raters included, so annotator "
        "confusion is estimated from all data) and are scored on the held-out rater's label, which none of them "
        "saw. A single rater is a noisy reference, so absolute accuracies are capped by annotator noise; the "
        "comparison between methods is what counts. Protocol B (items with ≥ 5 raters): the adjudicators see only "
        "2 random raters of those items (all votes elsewhere), the reference is the strict plurality of the other "
        "≥ 3 raters (items where those tie are left out). Accuracy = share of evaluated items whose adjudicated "
        "label equals the reference; an unresolved item (majority-vote tie: label -1, sent to review) counts as "
        "wrong, so the table also gives coverage (share with a label) and accuracy on the resolved items. CROWDLAB's "
        "model probabilities: 5-fold out-of-fold logistic regression on all-MiniLM-L6-v2 embeddings of the text, "
        "trained on the majority vote of the *visible* votes only (ties broken at random, seeded), so the "
        "reference labels never reach the model. Mean over seeds."
    ),
    "label_error": (
        "TREC coarse (official train split, 5,452) and AG News (the 7,600-row file): per seed, 5% of the labels "
        "are flipped to a uniformly random other class; out-of-fold (5-fold) probabilities of logistic regression "
        "on embeddings; `find_suspects` (cleanlab `find_label_issues`, prune_by_noise_rate). Precision = share of "
        "flagged items that were flipped; recall = share of flipped items flagged. The original labels have "
        "errors of their own, so some 'false positives' are real label errors: precision is a lower bound."
    ),
    "auto_label": (
        "TREC (all 5,952 questions) and AG News (7,600): per seed a stratified split into train 30% (what humans "
        "labelled for training), calibration 30% (human-labelled, held out) and pool 40%. Logistic regression on "
        "embeddings fitted on train. Main figures: one global confidence threshold with the pool guarantee "
        "(`choose_threshold(..., pool_confidence=...)`, target 0.95, alpha 0.05: with 95% probability the precision "
        "of the pool items auto-labelled is at least 0.95; exact hypergeometric test per threshold, fixed-sequence "
        "testing from three starts at alpha / 3 each), applied to the pool. Next to it: per-class thresholds with "
        "the same guarantee (alpha 0.05 / k per class), and one global threshold with only the population guarantee "
        "(one-sided Clopper-Pearson on P(right | confidence ≥ t)), for comparison. The three starts (2×, 4×, 8× the "
        "smallest support that can pass) were chosen on seeds 10-19 of these splits; the figures are seeds 0-9. "
        "Coverage = share of the pool auto-labelled; precision = share of those whose model label equals the "
        "dataset label."
    ),
}


# ---------------------------------------------------------------- data


def load_convabuse() -> pd.DataFrame:
    df = pd.read_csv(DATASETS / "convabuse" / "convabuse_annotations.csv", keep_default_na=False)
    return df[df.annotation_index == 1].copy()


def load_labelled(name: str) -> tuple[pd.DataFrame, list[str]]:
    if name == "trec":
        df = pd.read_csv(DATASETS / "trec" / "trec.csv", keep_default_na=False)
    elif name == "ag_news":
        df = pd.read_csv(DATASETS / "ag_news_test" / "ag_news_test.csv", keep_default_na=False)
    else:
        raise ValueError(f"unknown dataset {name!r}; known: trec, ag_news")
    classes = sorted(df.label.astype(str).unique())
    df["y"] = df.label.astype(str).map({c: i for i, c in enumerate(classes)}).astype(int)
    return df.reset_index(drop=True), classes


def embed(texts: list[str], cache_root: Path) -> np.ndarray:
    from labelloop.engine.simulate import embed_texts

    return np.asarray(embed_texts(texts, cache_root=cache_root), dtype=np.float32)


def lr(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=1000)


# ---------------------------------------------------------------- 1. agreement


def agreement_figures(df: pd.DataFrame) -> dict[str, Any]:
    ratings = list(zip(df["id"], df["rater_id"], df["is_abuse"].astype(int), strict=True))
    wide = df.pivot(index="id", columns="rater_id", values="is_abuse")
    pairs = [
        (a, b) for a, b in combinations(sorted(wide.columns), 2) if int(wide[[a, b]].notna().all(axis=1).sum()) >= 20
    ]
    our_kappas, ref_kappas = [], []
    for a, b in pairs:
        both = wide[[a, b]].dropna()
        our_kappas.append(ours.cohen_kappa(ratings, a, b).value)
        ref_kappas.append(float(cohen_kappa_score(both[a].astype(int), both[b].astype(int))))
    # independent count table: items × levels
    counts = pd.crosstab(df["id"], df["is_abuse"].astype(int)).reindex(columns=LEVELS, fill_value=0)
    n_i = counts.sum(axis=1)
    multi = counts[n_i >= 2]
    nm = n_i[n_i >= 2]
    ref_percent = float(((multi * (multi - 1)).sum(axis=1) / (nm * (nm - 1))).mean())
    modal = int(n_i.mode().iloc[0])
    ref_fleiss = float(sm_fleiss_kappa(counts[n_i == modal].to_numpy(), method="fleiss"))
    reliability = wide.T.astype(float).to_numpy()  # annotators × items
    figures = {
        "percent_agreement": (ours.percent_agreement(ratings).value, ref_percent),
        "cohen_kappa_mean_over_pairs": (float(np.mean(our_kappas)), float(np.mean(ref_kappas))),
        "fleiss_kappa": (ours.fleiss_kappa(ratings, LEVELS).value, ref_fleiss),
        "krippendorff_alpha_nominal": (
            ours.krippendorff_alpha(ratings, level="nominal", categories=LEVELS).value,
            float(
                krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal", value_domain=LEVELS)
            ),
        ),
        "krippendorff_alpha_ordinal": (
            ours.krippendorff_alpha(ratings, level="ordinal", categories=LEVELS).value,
            float(
                krippendorff.alpha(reliability_data=reliability, level_of_measurement="ordinal", value_domain=LEVELS)
            ),
        ),
    }
    return {
        "agreement": {k: round(v[0], 6) for k, v in figures.items()},
        "agreement_reference": {k: round(v[1], 6) for k, v in figures.items()},
        "agreement_max_abs_diff": float(max(abs(v[0] - v[1]) for v in figures.values())),
        "agreement_detail": {
            "items": int(df["id"].nunique()),
            "ratings": len(df),
            "annotators": int(df["rater_id"].nunique()),
            "cohen_pairs": len(pairs),
            "fleiss_items": int((n_i == modal).sum()),
            "fleiss_ratings_per_item": modal,
            "references": {
                "percent_agreement": "pandas count table, Σ n_c(n_c-1)/n(n-1) per item",
                "cohen_kappa_mean_over_pairs": "sklearn.metrics.cohen_kappa_score",
                "fleiss_kappa": "statsmodels.stats.inter_rater.fleiss_kappa",
                "krippendorff_alpha_nominal": "krippendorff.alpha",
                "krippendorff_alpha_ordinal": "krippendorff.alpha",
            },
        },
    }


# ---------------------------------------------------------------- 2. adjudication


def _train_labels(votes: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Majority vote of the visible votes, ties broken at random (only to train the model for CROWDLAB)."""
    counts = vote_counts(votes, k).astype(float)
    counts += rng.random(counts.shape) * 0.5  # breaks ties only: counts differ by ≥ 1 otherwise
    return counts.argmax(axis=1)


def _score(res: Any, rows: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    labels = res.labels[rows]
    has = labels >= 0
    return {
        "accuracy": float(np.mean(labels == ref)),
        "coverage": float(np.mean(has)),
        "accuracy_resolved": float(np.mean(labels[has] == ref[has])) if has.any() else float("nan"),
        "review_share": float(np.mean(res.needs_review[rows])),
    }


def adjudication_run(votes_full: np.ndarray, x: np.ndarray, seeds: list[int]) -> dict[str, Any]:
    k = len(LEVELS)
    n_raters = (votes_full >= 0).sum(axis=1)
    out: dict[str, Any] = {"A": {m: [] for m in ADJUDICATORS}, "B": {m: [] for m in ADJUDICATORS}}
    sizes: dict[str, int] = {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for protocol in ("A", "B"):
            votes = votes_full.copy()
            if protocol == "A":
                rows = np.nonzero(n_raters >= 3)[0]
                ref = np.empty(len(rows), dtype=np.int64)
                for r_i, r in enumerate(rows):
                    j = rng.choice(np.nonzero(votes[r] >= 0)[0])
                    ref[r_i] = votes[r, j]
                    votes[r, j] = -1
            else:
                cand = np.nonzero(n_raters >= 5)[0]
                keep_rows, refs = [], []
                for r in cand:
                    raters = rng.permutation(np.nonzero(votes[r] >= 0)[0])
                    hidden = raters[2:]
                    c = np.bincount(votes[r, hidden], minlength=k)
                    votes[r, hidden] = -1
                    if (c == c.max()).sum() == 1:
                        keep_rows.append(r)
                        refs.append(int(c.argmax()))
                rows, ref = np.asarray(keep_rows), np.asarray(refs)
            sizes[protocol] = len(rows)
            y_train = _train_labels(votes, k, rng)
            probs = out_of_fold_probs(
                x, y_train, make_head=lambda: lr(C_BY_DATASET["convabuse"]), seed=seed, n_classes=k
            )
            for method in ADJUDICATORS:
                t0 = time.time()
                res = adjudicate(method, votes, k, pred_probs=probs if method == "crowdlab" else None)
                score = _score(res, rows, ref)
                score["seconds"] = time.time() - t0
                out[protocol][method].append(score)
            log.info(
                "adjudication seed %d protocol %s: %s",
                seed,
                protocol,
                {m: round(out[protocol][m][-1]["accuracy"], 4) for m in ADJUDICATORS},
            )
    summary = {
        p: {m: {key: round(float(np.mean([s[key] for s in runs])), 4) for key in runs[0]} for m, runs in d.items()}
        for p, d in out.items()
    }
    per_seed = {p: {m: [round(s["accuracy"], 4) for s in runs] for m, runs in d.items()} for p, d in out.items()}
    return {
        "adjudication": {m: summary["A"][m]["accuracy"] for m in ADJUDICATORS},
        "adjudication_detail": {
            "protocol_A_held_out_rater": {
                "items": sizes["A"],
                "by_method": summary["A"],
                "accuracy_per_seed": per_seed["A"],
            },
            "protocol_B_majority_of_hidden_raters": {
                "items": sizes["B"],
                "by_method": summary["B"],
                "accuracy_per_seed": per_seed["B"],
            },
            "classes": LEVELS,
        },
    }


# ---------------------------------------------------------------- 3. label errors


def label_error_run(name: str, x: np.ndarray, y: np.ndarray, seeds: list[int], rate: float = 0.05) -> dict[str, Any]:
    k = int(y.max()) + 1
    runs = []
    for seed in seeds:
        rng = np.random.default_rng(1000 + seed)
        flipped = rng.choice(len(y), size=round(rate * len(y)), replace=False)
        noisy = y.copy()
        noisy[flipped] = (y[flipped] + rng.integers(1, k, flipped.size)) % k
        t0 = time.time()
        probs = out_of_fold_probs(x, noisy, make_head=lambda: lr(C_BY_DATASET[name]), seed=seed)
        suspects = find_suspects(noisy, probs)
        flagged = {s.index for s in suspects}
        hits = len(flagged & set(flipped.tolist()))
        runs.append(
            {
                "seed": seed,
                "flipped": int(flipped.size),
                "flagged": len(flagged),
                "hits": hits,
                "precision": hits / len(flagged) if flagged else 0.0,
                "recall": hits / flipped.size,
                "suggested_is_original": float(
                    np.mean([s.suggested == y[s.index] for s in suspects if s.index in set(flipped.tolist())])
                )
                if hits
                else 0.0,
                "seconds": round(time.time() - t0, 1),
            }
        )
        log.info("label errors %s seed %d: %s", name, seed, runs[-1])
    return {
        "items": len(y),
        "classes": k,
        "flip_rate": rate,
        "precision": round(float(np.mean([r["precision"] for r in runs])), 4),
        "recall": round(float(np.mean([r["recall"] for r in runs])), 4),
        "runs": runs,
    }


# ---------------------------------------------------------------- 4. auto-labeling


def _pool_figures(mask: np.ndarray, pred: np.ndarray, y_pool: np.ndarray) -> dict[str, Any]:
    return {
        "coverage": round(float(mask.mean()), 4),
        "precision": round(float(np.mean(pred[mask] == y_pool[mask])), 4) if mask.any() else None,
        "auto_labelled": int(mask.sum()),
    }


def _summary(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    prec = [r[key]["precision"] for r in runs if r[key]["precision"] is not None]
    return {
        "coverage": round(float(np.mean([r[key]["coverage"] for r in runs])), 4),
        "measured_precision_min": min(prec) if prec else None,
        "measured_precision_mean": round(float(np.mean(prec)), 4) if prec else None,
        "seeds_with_auto_labels": len(prec),
        "seeds_below_target": [
            r["seed"] for r in runs if r[key]["precision"] is not None and r[key]["precision"] < TARGET
        ],
    }


def auto_label_run(name: str, x: np.ndarray, y: np.ndarray, classes: list[str], seeds: list[int]) -> dict[str, Any]:
    """Three ways to choose thresholds on the same splits: one global threshold with the pool guarantee (the main
    figures, what ``labelloop quality autolabel`` does in global mode), per-class thresholds with the pool guarantee,
    and one global threshold with only the population guarantee (for comparison)."""
    runs = []
    for seed in seeds:
        idx = np.arange(len(y))
        train, rest = train_test_split(idx, train_size=0.3, random_state=seed, stratify=y)
        cal, pool = train_test_split(rest, train_size=3 / 7, random_state=seed, stratify=y[rest])
        head = lr(C_BY_DATASET[name]).fit(x[train], y[train])
        p_cal, p_pool = head.predict_proba(x[cal]), head.predict_proba(x[pool])
        pred, conf_cal, right_cal = p_pool.argmax(axis=1), p_cal.max(axis=1), p_cal.argmax(axis=1) == y[cal]
        glob = choose_threshold(conf_cal, right_cal, target=TARGET, alpha=ALPHA, pool_confidence=p_pool.max(axis=1))
        popu = choose_threshold(conf_cal, right_cal, target=TARGET, alpha=ALPHA)
        th = choose_thresholds_per_class(
            p_cal, y[cal], target=TARGET, alpha=ALPHA, class_names=classes, pool_probs=p_pool
        )
        mask = apply_thresholds(p_pool, th)
        runs.append(
            {
                "seed": seed,
                "train": len(train),
                "calibration": len(cal),
                "pool": len(pool),
                "model_accuracy_pool": round(float(np.mean(pred == y[pool])), 4),
                "global": {
                    "threshold": glob.threshold,
                    "note": glob.note,
                    "calibration_precision": glob.precision,
                    "calibration_n": glob.n_calibration_above,
                    "pool_precision_lower_bound": glob.lower_bound,
                    "sequence_start": glob.start,
                    **_pool_figures(apply_thresholds(p_pool, glob), pred, y[pool]),
                },
                "per_class": {
                    "thresholds": {t.per_class: t.threshold for t in th.values()},
                    "class_precision": {
                        classes[c]: round(float(np.mean(y[pool][mask & (pred == c)] == c)), 4)
                        for c in range(len(classes))
                        if (mask & (pred == c)).any()
                    },
                    **_pool_figures(mask, pred, y[pool]),
                },
                "population": {
                    "threshold": popu.threshold,
                    "calibration_lower_bound": popu.lower_bound,
                    **_pool_figures(apply_thresholds(p_pool, popu), pred, y[pool]),
                },
            }
        )
        log.info("auto-label %s seed %d: %s", name, seed, runs[-1]["global"])
    main = _summary(runs, "global")
    return {
        "target": TARGET,
        "alpha": ALPHA,
        "method": "global threshold, pool guarantee (choose_threshold with pool_confidence)",
        "coverage": main["coverage"],
        "measured_precision_min": main["measured_precision_min"],
        "measured_precision_mean": main["measured_precision_mean"],
        "seeds": seeds,
        "meets_target_every_seed_with_auto_labels": main["seeds_with_auto_labels"] > 0
        and not main["seeds_below_target"],
        "seeds_without_threshold": [r["seed"] for r in runs if r["global"]["threshold"] is None],
        "seeds_with_auto_labels": main["seeds_with_auto_labels"],
        "per_class": {
            "method": "choose_thresholds_per_class (alpha / k per class, pool guarantee)",
            **_summary(runs, "per_class"),
        },
        "population": {"method": "global threshold, population guarantee only", **_summary(runs, "population")},
        "runs": runs,
    }


# ---------------------------------------------------------------- output


def render_md(r: dict[str, Any]) -> str:
    run = r["run"]
    ag, ref = r["agreement"], r["agreement_reference"]
    lines = [
        "# Label quality: agreement, adjudication, label errors, auto-labeling",
        "",
        f"Run {run['date']} on {run['cpus']} shared CPUs ({run['machine']}), {run['wall_seconds']} s wall "
        f"(embedding {run['embed_seconds']} s). Command: `.venv/bin/python {run['command']}`. Seeds {run['seeds']}.",
        "",
        "## Agreement (ConvAbuse)",
        "",
        PROTOCOLS["agreement"],
        "",
        "| measure | ours | reference | |diff| |",
        "|---|---|---|---|",
        *[f"| {k} | {ag[k]:.6f} | {ref[k]:.6f} | {abs(ag[k] - ref[k]):.1e} |" for k in ag],
        "",
        f"Largest difference: {r['agreement_max_abs_diff']:.1e}. "
        f"{r['agreement_detail']['items']} items, {r['agreement_detail']['ratings']} ratings, "
        f"{r['agreement_detail']['cohen_pairs']} annotator pairs for Cohen, "
        f"{r['agreement_detail']['fleiss_items']} items with {r['agreement_detail']['fleiss_ratings_per_item']} "
        "ratings for Fleiss.",
        "",
        "## Adjudication (ConvAbuse)",
        "",
        PROTOCOLS["adjudication"],
        "",
    ]
    for key, title in (
        ("protocol_A_held_out_rater", "A: held-out rater"),
        ("protocol_B_majority_of_hidden_raters", "B: 2 visible raters, plurality of the others"),
    ):
        d = r["adjudication_detail"][key]
        lines += [
            f"Protocol {title} ({d['items']} items):",
            "",
            "| method | accuracy | coverage | accuracy on resolved | sent to review | accuracy per seed |",
            "|---|---|---|---|---|---|",
            *[
                f"| {m} | {s['accuracy']:.4f} | {s['coverage']:.4f} | {s['accuracy_resolved']:.4f} | "
                f"{s['review_share']:.4f} | {d['accuracy_per_seed'][m]} |"
                for m, s in d["by_method"].items()
            ],
            "",
        ]
    le = r["label_error_detail"]
    lines += [
        "## Label-error detection (5% flipped labels)",
        "",
        PROTOCOLS["label_error"],
        "",
        "| dataset | items | flipped | flagged (mean) | precision | recall | suggested = original label |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {n} | {d['items']} | {d['runs'][0]['flipped']} | {np.mean([x['flagged'] for x in d['runs']]):.0f} | "
            f"{d['precision']:.4f} | {d['recall']:.4f} | "
            f"{np.mean([x['suggested_is_original'] for x in d['runs']]):.4f} |"
            for n, d in le.items()
        ],
        "",
        f"Mean over datasets: precision {r['label_error']['precision']:.4f}, recall {r['label_error']['recall']:.4f}.",
        "",
        "## Auto-labeling at precision target 0.95",
        "",
        PROTOCOLS["auto_label"],
        "",
        "| dataset | method | coverage | precision min | precision mean | seeds with auto-labels | seeds below 0.95 "
        "| model accuracy (pool) |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for n, d in r["auto_label"].items():
        acc = np.mean([x["model_accuracy_pool"] for x in d["runs"]])
        below = [
            x["seed"] for x in d["runs"] if x["global"]["precision"] is not None and x["global"]["precision"] < TARGET
        ]
        lines.append(
            f"| {n} | **global, pool guarantee** | {d['coverage']:.4f} | {d['measured_precision_min']} "
            f"| {d['measured_precision_mean']} | {d['seeds_with_auto_labels']} / {len(d['seeds'])} | {below or 'none'} "
            f"| {acc:.4f} |"
        )
        for key, label in (("per_class", "per class, pool guarantee"), ("population", "global, population only")):
            v = d[key]
            lines.append(
                f"| {n} | {label} | {v['coverage']:.4f} | {v['measured_precision_min']} "
                f"| {v['measured_precision_mean']} | {v['seeds_with_auto_labels']} / {len(d['seeds'])} "
                f"| {v['seeds_below_target'] or 'none'} | |"
            )
    lines += [
        "",
        "Per seed (threshold → pool coverage, pool precision; pool precision lower bound at the chosen threshold):",
        "",
    ]
    for n, d in r["auto_label"].items():
        for x in d["runs"]:
            g, pc, po = x["global"], x["per_class"], x["population"]
            bound = "–" if g["pool_precision_lower_bound"] is None else f"{g['pool_precision_lower_bound']:.4f}"
            lines.append(
                f"- {n} seed {x['seed']}: global {g['threshold']} → {g['coverage']}, {g['precision']} (bound {bound}); "
                f"per class → {pc['coverage']}, {pc['precision']}, thresholds {pc['thresholds']}; "
                f"population only {po['threshold']} → {po['coverage']}, {po['precision']}"
            )
    lines += ["", "## Reading the numbers", "", *findings(r)]
    return "\n".join(lines) + "\n"


def findings(r: dict[str, Any]) -> list[str]:
    """Plain statements computed from the result, so the text cannot drift from the figures."""
    out = []
    a = r["adjudication_detail"]["protocol_A_held_out_rater"]["by_method"]
    out.append(
        f"- Adjudication: majority vote leaves {1 - a['majority']['coverage']:.1%} of the protocol-A items unresolved "
        f"(ties, sent to review); on the items it resolves it is the most accurate "
        f"({a['majority']['accuracy_resolved']:.4f}), because those are the easy ones. Dawid-Skene and CROWDLAB label "
        f"every item and send {a['dawid-skene']['review_share']:.1%} / {a['crowdlab']['review_share']:.1%} to review."
    )
    for n, d in r["auto_label"].items():
        runs = d["runs"]
        none = [x["seed"] for x in runs if x["global"]["threshold"] is None]
        text = (
            f"- Auto-labeling {n}: the pool-guarantee threshold exists in {len(runs) - len(none)} of {len(runs)} seeds"
        )
        if none:
            text += f" (none in seeds {none}: every fixed sequence failed at its first test)"
        text += "; mean coverage counts those seeds as 0."
        pc_below = d["per_class"]["seeds_below_target"]
        if pc_below:
            text += (
                f" Per-class thresholds (each class at alpha / k) left the pool precision below 0.95 in seeds "
                f"{pc_below}; the per-class statement holds with probability 1 - alpha per run, so one miss in "
                f"{len(runs)} runs is within it, but it is the weaker of the two modes here."
            )
        below = d["population"]["seeds_below_target"]
        if below:
            text += (
                f" With only the population guarantee the pool precision fell below 0.95 in seeds {below}: that "
                "guarantee is about P(right | confidence ≥ t), and a finite pool scatters around it."
            )
        out.append(text)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-root", type=Path, default=REPO / ".labelloop" / "bench-cache")
    parser.add_argument("--out", type=Path, default=REPO / "bench")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--auto-label-seeds", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("labelloop", "sentence_transformers", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    started = time.time()
    seeds = list(range(args.seeds))
    result: dict[str, Any] = {
        "run": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.argv[0]).resolve().relative_to(REPO).as_posix(), *sys.argv[1:]]),
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "seeds": seeds,
            "encoder": "all-MiniLM-L6-v2 (EncoderSpec() default)",
            "C": C_BY_DATASET,
        },
        "protocols": PROTOCOLS,
    }
    conv = load_convabuse()
    result.update(agreement_figures(conv))
    log.info("agreement max |diff| %.2e", result["agreement_max_abs_diff"])

    embed_seconds = 0.0
    items = conv.drop_duplicates("id").sort_values("id").reset_index(drop=True)
    t0 = time.time()
    x_conv = embed(items.text.tolist(), args.cache_root)
    embed_seconds += time.time() - t0
    row = {i: r for r, i in enumerate(items["id"])}
    col = {a: j for j, a in enumerate(sorted(conv.rater_id.unique()))}
    level = {v: c for c, v in enumerate(LEVELS)}
    votes = np.full((len(items), len(col)), -1, dtype=np.int64)
    for i, a, v in zip(conv["id"], conv["rater_id"], conv["is_abuse"].astype(int), strict=True):
        votes[row[i], col[a]] = level[v]
    result.update(adjudication_run(votes, x_conv, seeds))

    label_error: dict[str, Any] = {}
    auto: dict[str, Any] = {}
    for name in ("trec", "ag_news"):
        df, classes = load_labelled(name)
        t0 = time.time()
        x = embed(df.text.tolist(), args.cache_root)
        embed_seconds += time.time() - t0
        train = (df.split == "train").to_numpy() if name == "trec" else np.ones(len(df), bool)
        label_error[name] = label_error_run(name, x[train], df.y.to_numpy()[train], seeds)
        auto[name] = auto_label_run(name, x, df.y.to_numpy(), classes, list(range(args.auto_label_seeds)))
    result["label_error"] = {
        "precision": round(float(np.mean([d["precision"] for d in label_error.values()])), 4),
        "recall": round(float(np.mean([d["recall"] for d in label_error.values()])), 4),
    }
    result["label_error_detail"] = label_error
    result["auto_label"] = auto
    result["run"]["wall_seconds"] = round(time.time() - started, 1)
    result["run"]["embed_seconds"] = round(embed_seconds, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (args.out / "quality.md").write_text(render_md(result), encoding="utf-8")
    print(render_md(result))


if __name__ == "__main__":
    main()
