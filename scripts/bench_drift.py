"""Drift detection on a real shift vs no shift: detection rate and false-alarm rate over many trials.

Writes bench/drift.json and bench/drift.md.

    .venv/bin/python scripts/bench_drift.py               # the full run (476 s measured on 2 cores at load ~13)
    .venv/bin/python scripts/bench_drift.py --trials 5    # a smoke run, not a result

Protocol: TREC questions (train + test files, 5,952 rows) are shuffled (seed 0) into a training part (3,000: the
model's training data, a logistic regression C=5 on all-MiniLM-L6-v2 embeddings), a held-out reference part
(1,000: the model's outputs on data like its training data, for the label-shift and confidence tests) and a
held-out "no shift" part (the remaining 1,952). Each trial draws a batch of ``--batch`` rows (seeded per trial)
and runs :func:`labelloop.engine.metrics.drift.detect_drift` against the training embeddings and the reference
outputs:

* no shift: the batch comes from the held-out TREC part → an alert is a false alarm;
* shift: the batch is AG News headlines (official test file) or SMS messages (SMS Spam Collection; 2,000 rows
  sampled once and embedded) → an alert is a detection;
* partial shift (extra): a TREC batch with a fraction of AG News rows mixed in, to show the sensitivity.

Embeddings come from :func:`labelloop.engine.simulate.embed_texts` and its on-disk cache (shared with the other
benchmarks), so reruns do not re-embed.
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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("LABELLOOP_DATASETS", REPO.parent / "shared" / "datasets"))
TESTS = ("mmd", "classifier", "psi", "chi2", "confidence")


def fired(report: Any) -> dict[str, bool]:
    """Which individual tests crossed their threshold in one :class:`DriftReport` (from its reasons)."""
    text = " | ".join(report.reasons)
    return {"mmd": "MMD" in text, "classifier": "AUC" in text, "psi": "PSI" in text, "chi2": "chi-square" in text,
            "confidence": "confidence" in text, "alert": report.alert}  # fmt: skip


def rates(outcomes: list[dict[str, bool]]) -> dict[str, float]:
    return {k: float(np.mean([o[k] for o in outcomes])) for k in (*TESTS, "alert")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=25, help="trials per condition (>= 20 for a result)")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--sms-rows", type=int, default=2000)
    parser.add_argument("--mix", default="0.1,0.25", help="AG News fractions of the partial-shift batches")
    parser.add_argument("--cache-root", type=Path, default=REPO / ".labelloop" / "bench-cache")
    parser.add_argument("--out", type=Path, default=REPO / "bench")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from sklearn.linear_model import LogisticRegression

    from labelloop.engine.config import DriftConfig
    from labelloop.engine.metrics.drift import detect_drift
    from labelloop.engine.simulate import embed_texts

    started = time.time()
    load_before = os.getloadavg()
    trec = pd.read_csv(DATASETS / "trec" / "trec.csv", keep_default_na=False)
    ag = pd.read_csv(DATASETS / "ag_news_test" / "ag_news_test.csv", keep_default_na=False)
    sms = pd.read_csv(DATASETS / "sms_spam" / "sms_spam.csv", keep_default_na=False)
    sms = sms.iloc[np.sort(np.random.default_rng(0).choice(len(sms), size=min(args.sms_rows, len(sms)),
                                                            replace=False))]  # fmt: skip

    t0 = time.time()
    x_trec = embed_texts(trec.text.tolist(), cache_root=args.cache_root)
    x_ag = embed_texts(ag.text.tolist(), cache_root=args.cache_root)
    x_sms = embed_texts(sms.text.tolist(), cache_root=args.cache_root)
    embed_s = time.time() - t0
    print(f"embedded/loaded {len(trec)} + {len(ag)} + {len(sms)} texts in {embed_s:.1f} s", flush=True)

    order = np.random.default_rng(0).permutation(len(trec))
    train_i, ref_i, hold_i = order[:3000], order[3000:4000], order[4000:]
    y = trec.label.astype(str).to_numpy()
    model = LogisticRegression(C=5.0, max_iter=2000).fit(x_trec[train_i], y[train_i])
    ref_acc = float(np.mean(model.predict(x_trec[ref_i]) == y[ref_i]))
    ref_emb, ref_proba = x_trec[train_i], model.predict_proba(x_trec[ref_i])
    cfg = DriftConfig(embedding_test="both")

    def trial(batch: np.ndarray, seed: int) -> dict[str, Any]:
        rep = detect_drift(ref_emb, batch, reference_proba=ref_proba, batch_proba=model.predict_proba(batch),
                           config=cfg, rng=np.random.default_rng(seed))  # fmt: skip
        out: dict[str, Any] = fired(rep)
        out.update(
            mmd_p=rep.mmd.p_value if rep.mmd else None,
            auc=rep.classifier.statistic if rep.classifier else None,
            psi_value=rep.label_shift.psi if rep.label_shift else None,
            chi2_p=rep.label_shift.chi2_p_value if rep.label_shift else None,
            conf_drop=rep.confidence_drop,
        )
        return out

    def draw(pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        return pool[rng.choice(len(pool), size=n, replace=False)]

    conditions: dict[str, list[dict[str, Any]]] = {"no_shift_trec": [], "shift_ag_news": [], "shift_sms": []}
    mixes = [float(f) for f in args.mix.split(",") if f.strip()]
    for f in mixes:
        conditions[f"partial_ag_news_{f:g}"] = []
    t_trials = time.time()
    x_hold = x_trec[hold_i]
    for t in range(args.trials):
        rng = np.random.default_rng([1, t])
        conditions["no_shift_trec"].append(trial(draw(x_hold, args.batch, rng), 10_000 + t))
        conditions["shift_ag_news"].append(trial(draw(x_ag, args.batch, rng), 20_000 + t))
        conditions["shift_sms"].append(trial(draw(x_sms, args.batch, rng), 30_000 + t))
        for f in mixes:
            k = round(f * args.batch)
            batch = np.vstack([draw(x_hold, args.batch - k, rng), draw(x_ag, k, rng)])
            conditions[f"partial_ag_news_{f:g}"].append(trial(batch, 40_000 + t))
        if (t + 1) % 10 == 0:
            print(f"  {t + 1}/{args.trials} trials, {time.time() - t_trials:.1f} s", flush=True)
    trials_s = time.time() - t_trials

    per_condition = {name: {"trials": len(o), "rates": rates(o),
                            "median": {k: float(np.median([x[k] for x in o])) for k in
                                       ("mmd_p", "auc", "psi_value", "chi2_p", "conf_drop")}}
                     for name, o in conditions.items()}  # fmt: skip
    shifted = conditions["shift_ag_news"] + conditions["shift_sms"]
    result = {
        "run": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "wall_s": round(time.time() - started, 1),
            "embed_s": round(embed_s, 1),
            "trials_s": round(trials_s, 1),
            "load_before": load_before,
            "load_after": os.getloadavg(),
        },
        "trials": {
            "no_shift": len(conditions["no_shift_trec"]),
            "shift": len(shifted),
            "shift_ag_news": len(conditions["shift_ag_news"]),
            "shift_sms": len(conditions["shift_sms"]),
        },
        "detection_rate": rates(shifted)["alert"],
        "false_alarm_rate": rates(conditions["no_shift_trec"])["alert"],
        "method": "alert = any of: RBF-kernel MMD permutation test (median-heuristic bandwidth) p < p_value; "
        "domain-classifier (logistic regression, 5-fold CV) AUC > classifier_auc; predicted-label PSI > psi; "
        "predicted-label chi-square p < p_value; mean max-probability drop > confidence_drop",
        "thresholds": cfg.model_dump(),
        "batch_size": args.batch,
        "reference": {
            "dataset": "trec",
            "train_rows": len(train_i),
            "reference_rows": len(ref_i),
            "held_out_rows": len(hold_i),
            "model": "LogisticRegression(C=5) on all-MiniLM-L6-v2",
            "reference_accuracy": ref_acc,
        },
        "shift_sources": {
            "ag_news": f"{len(ag)} AG News test headlines+descriptions",
            "sms": f"{len(sms)} SMS Spam Collection messages (seeded sample)",
        },
        "per_condition": per_condition,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "drift.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (args.out / "drift.md").write_text(render(result), encoding="utf-8")
    print(render(result))


def render(r: dict[str, Any]) -> str:
    run = r["run"]
    lines = [
        "# Drift detection: real shift vs no shift",
        "",
        f"Run {run['date']} on {run['cpus']} shared CPUs ({run['machine']}), {run['wall_s']} s wall "
        f"(embeddings {run['embed_s']} s, trials {run['trials_s']} s); load average before/after "
        f"{[round(x, 2) for x in run['load_before']]} / {[round(x, 2) for x in run['load_after']]}.",
        f"Command: `{run['command']}`.",
        "",
        f"**Detection rate {r['detection_rate']:.3f}** over {r['trials']['shift']} shifted batches "
        f"(AG News {r['trials']['shift_ag_news']}, SMS {r['trials']['shift_sms']}); "
        f"**false-alarm rate {r['false_alarm_rate']:.3f}** over {r['trials']['no_shift']} batches of held-out TREC. "
        f"Batch size {r['batch_size']}.",
        "",
        f"Reference: {r['reference']['train_rows']} TREC questions the model was trained on "
        f"({r['reference']['model']}, accuracy {r['reference']['reference_accuracy']:.3f} on the "
        f"{r['reference']['reference_rows']} held-out reference questions whose outputs are the label and "
        f"confidence reference); no-shift batches from the other {r['reference']['held_out_rows']} held-out questions.",
        "",
        f"Method: {r['method']}. Thresholds: " + ", ".join(f"`{k}={v}`" for k, v in r["thresholds"].items()) + ".",
        "",
        "| condition | trials | alert | MMD | classifier | PSI | chi-square | confidence | median MMD p | "
        "median AUC | median PSI | median conf. drop |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, c in r["per_condition"].items():
        rt, md = c["rates"], c["median"]
        lines.append(
            f"| {name} | {c['trials']} | {rt['alert']:.2f} | {rt['mmd']:.2f} | {rt['classifier']:.2f} | "
            f"{rt['psi']:.2f} | {rt['chi2']:.2f} | {rt['confidence']:.2f} | {md['mmd_p']:.4f} | {md['auc']:.3f} | "
            f"{md['psi_value']:.3f} | {md['conf_drop']:.3f} |"
        )
    lines += [
        "",
        "Rates are the share of trials in which each test fired (columns) and the combined alert (any test). "
        "The permutation p-value cannot go below 1/(1 + permutations). Partial-shift rows mix that fraction of "
        "AG News rows into a held-out TREC batch; they are not part of the detection rate.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
