"""Heads on MiniLM embeddings: accuracy / macro-F1 on TREC and AG News, ECE before and after calibration.

Writes bench/heads.json and bench/heads.md.

    .venv/bin/python scripts/bench_heads.py

Embeddings come through ``embed_items`` with the embedding cache (default: the one scripts/bench_prelabel.py leaves
in .labelloop/bench/prelabel-cache, so after that benchmark nothing is re-embedded); missing ones are embedded
in-process.

Splits: TREC uses its official train (5,452) / test (500) split and the 6 coarse labels. AG News here is only the
official 7,600-row *test* file (the train file is not available offline): a seeded (0) stratified 80/20 split of it
is used as train/test. Calibration: 20% of each train set (seeded, stratified) is held out; the head is fitted on
the other 80%, the calibrator on the held-out part, ECE is measured on test. Accuracy/F1 of the main row: LR fitted
on the full train set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("LABELLOOP_DATASETS", REPO.parent / "shared" / "datasets"))


def splits(ag_limit: int | None) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    trec = pd.read_csv(DATASETS / "trec" / "trec.csv", keep_default_na=False)
    ag = pd.read_csv(DATASETS / "ag_news_test" / "ag_news_test.csv", keep_default_na=False)
    name = "ag_news_test (seeded 80/20 of the official test file)"
    if ag_limit is not None and ag_limit < len(ag):
        ag, _ = train_test_split(ag, train_size=ag_limit, random_state=0, stratify=ag.label)
        name = f"ag_news_test (seeded stratified sample of {ag_limit:,}, then seeded 80/20)"
    ag_train, ag_test = train_test_split(ag, test_size=0.2, random_state=0, stratify=ag.label)
    return {"trec": (trec[trec.split == "train"], trec[trec.split == "test"]), name: (ag_train, ag_test)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-root", type=Path, default=REPO / ".labelloop" / "bench" / "prelabel-cache")
    parser.add_argument("--out", type=Path, default=REPO / "bench")
    parser.add_argument("--heads", default="logreg,mlp,committee")
    parser.add_argument("--ag-limit", type=int, default=None, help="seeded stratified sample of AG News rows")
    args = parser.parse_args()

    from labelloop.models.compute import InProcessRunner, embed_items
    from labelloop.models.embedding_cache import EmbeddingCache
    from labelloop.models.encoders import EncoderSpec, encoder_fingerprint
    from labelloop.models.heads import CalibratedHead, expected_calibration_error, labels_to_index, make_head

    spec = EncoderSpec(batch_size=32, max_length=128, threads=2)
    fp = encoder_fingerprint(spec)
    cache = EmbeddingCache(args.cache_root, fp)
    runner = InProcessRunner()
    results: dict[str, object] = {"encoder_fingerprint": fp, "datasets": {}}

    def embed(texts: list[str]) -> np.ndarray:
        hashes = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        vectors, stats = embed_items(hashes, texts, encoder_spec=spec, cache=cache, runner=runner)
        print(f"  embedded {stats.embedded}, cache hits {stats.hits}", flush=True)
        return vectors

    for name, (train, test) in splits(args.ag_limit).items():
        print(name, flush=True)
        x_tr, x_te = embed(train.text.tolist()), embed(test.text.tolist())
        y_tr, y_te = train.label.to_numpy(), test.label.to_numpy()
        row: dict[str, object] = {"train": len(train), "test": len(test), "classes": len(np.unique(y_tr))}
        for head_name in args.heads.split(","):
            t0 = time.perf_counter()
            head = make_head(head_name).fit(x_tr, y_tr)
            pred = head.predict(x_te)
            row[head_name] = {
                "accuracy": round(float(accuracy_score(y_te, pred)), 4),
                "macro_f1": round(float(f1_score(y_te, pred, average="macro")), 4),
                "fit_seconds": round(time.perf_counter() - t0, 2),
            }
            print(f"  {head_name}: {row[head_name]}", flush=True)
        # calibration: fit on 80% of train, calibrate on the other 20%, measure on test
        fit_idx, cal_idx = train_test_split(np.arange(len(y_tr)), test_size=0.2, random_state=0, stratify=y_tr)
        head = make_head("logreg").fit(x_tr[fit_idx], y_tr[fit_idx])
        y_te_idx = labels_to_index(head.classes_, y_te)
        cal: dict[str, object] = {
            "fit_rows": len(fit_idx),
            "calibration_rows": len(cal_idx),
            "accuracy": round(float(accuracy_score(y_te, head.predict(x_te))), 4),
            "ece_before": round(expected_calibration_error(head.predict_proba(x_te), y_te_idx), 4),
        }
        for method in ("temperature", "isotonic"):
            calibrated = CalibratedHead(head, method=method).fit(x_tr[cal_idx], y_tr[cal_idx])
            probs = calibrated.predict_proba(x_te)
            cal[f"ece_after_{method}"] = round(expected_calibration_error(probs, y_te_idx), 4)
            cal[f"accuracy_after_{method}"] = round(float(accuracy_score(y_te, calibrated.predict(x_te))), 4)
            if method == "temperature":
                cal["temperature"] = round(calibrated.calibrator_.temperature_, 3)
        row["logreg_calibration"] = cal
        print(f"  calibration: {cal}", flush=True)
        results["datasets"][name] = row  # type: ignore[index]

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "heads.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (args.out / "heads.md").write_text(render_md(results, " ".join(sys.argv)), encoding="utf-8")


def render_md(r: dict, cmd: str) -> str:
    lines = [
        "# Heads on all-MiniLM-L6-v2 embeddings",
        "",
        f"Command: `.venv/bin/python {cmd.replace(str(REPO) + '/', '')}`. Encoder fingerprint "
        f"`{r['encoder_fingerprint']}` (max_length 128, mean pooling, L2-normalised).",
        "",
        "Splits: TREC official train/test, 6 coarse labels. AG News: only the official 7,600-row test file exists "
        "offline, so a seeded (random_state=0) stratified 80/20 split of it is train/test. Heads with default "
        "parameters (`logreg`: C=1; `mlp`: 256 hidden, dropout 0.2, 60 epochs; `committee`: 5 bootstrap LR).",
        "",
        "| dataset | train / test | head | accuracy | macro-F1 | fit s |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in r["datasets"].items():
        for head in ("logreg", "mlp", "committee"):
            if head in row:
                v = row[head]
                lines.append(
                    f"| {name} | {row['train']:,} / {row['test']:,} | {head} | {v['accuracy']:.4f} | "
                    f"{v['macro_f1']:.4f} | {v['fit_seconds']} |"
                )
    lines += [
        "",
        "## Calibration of the LR head (ECE, 15 equal-width bins, top label, on test)",
        "",
        "LR fitted on 80% of train; calibrator fitted on the held-out 20% of train (seeded, stratified).",
        "",
        "| dataset | fit / calibration rows | accuracy | ECE before | ECE temperature (T) | ECE isotonic | "
        "accuracy after isotonic |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in r["datasets"].items():
        c = row["logreg_calibration"]
        lines.append(
            f"| {name} | {c['fit_rows']:,} / {c['calibration_rows']:,} | {c['accuracy']:.4f} | {c['ece_before']:.4f} | "
            f"{c['ece_after_temperature']:.4f} ({c['temperature']}) | {c['ece_after_isotonic']:.4f} | "
            f"{c['accuracy_after_isotonic']:.4f} |"
        )
    lines += [
        "",
        "Temperature scaling keeps the argmax (accuracy unchanged); isotonic can move it. With a few hundred "
        "calibration rows, prefer temperature.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
