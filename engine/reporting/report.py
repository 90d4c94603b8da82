"""``labelloop report``: one self-contained HTML file (plots embedded as PNG data URIs, no script, no server) and a
Markdown summary, for the people who run the labeling operation.

Sections: summary, learning curve across rounds, accuracy per model version, confusion matrix of the serving
model on the evaluation split, annotators (gold accuracy, agreement), operations (throughput, lead time, cost per
label), drift, quality gates. A section with no data says so instead of disappearing. Texts of items never appear
in the report (they may hold PII even after redaction); only counts, labels, ids and annotator names.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelloop.engine.reporting import plots

log = logging.getLogger(__name__)


@dataclass
class Section:
    title: str
    html: list[str] = field(default_factory=list)
    md: list[str] = field(default_factory=list)

    def para(self, text: str) -> None:
        self.html.append(f"<p>{html.escape(text)}</p>")
        self.md.append(text + "\n")

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        def cell(v: Any) -> str:
            if v is None:
                return "–"
            if isinstance(v, float):
                return f"{v:.4f}"
            return str(v)

        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(cell(v))}</td>" for v in r) + "</tr>" for r in rows)
        self.html.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        self.md.append("| " + " | ".join(header) + " |")
        self.md.append("|" + "---|" * len(header))
        self.md.extend("| " + " | ".join(cell(v) for v in r) + " |" for r in rows)
        self.md.append("")

    def image(self, png: bytes, alt: str) -> None:
        data = base64.b64encode(png).decode("ascii")
        self.html.append(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">')
        self.md.append(f"*(figure in the HTML report: {alt})*\n")


@dataclass
class ReportResult:
    html_path: str
    md_path: str
    sections: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"html": self.html_path, "markdown": self.md_path, "sections": self.sections}


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem}h2{font-size:1.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;font-size:.85rem}
th{background:#f3f3f3;text-align:left}img{max-width:100%;display:block;margin:.5rem 0}p{font-size:.9rem}
.meta{color:#666;font-size:.8rem}
"""


def _summary(project: Any, status: dict[str, Any]) -> Section:
    s = Section("Summary")
    serving = project.store.serving_model_version()
    rows = [
        ("project", status["project"]),
        ("items", status["items"]),
        ("labelled items", status["labelled_items"]),
        ("rounds", len(project.store.rounds())),
        ("serving model", serving["id"] if serving else None),
        ("serving accuracy", (serving or {}).get("metrics", {}).get("accuracy")),
    ]
    s.table(["", "value"], rows)
    return s


def _models(project: Any) -> tuple[Section, Section]:
    curve, table = Section("Learning curve across rounds"), Section("Accuracy per model version")
    versions = sorted(project.store.model_versions(), key=lambda m: m["created_at"])
    rows, xs, ys, names = [], [], [], []
    for m in versions:
        met = m["metrics"] or {}
        n = int(met.get("train_labels", 0)) + int(met.get("calibration_labels", 0))
        rows.append((m["id"], m["status"], n, met.get("accuracy"), met.get("macro_f1"), met.get("ece")))
        if met.get("accuracy") is not None:
            xs.append(n)
            ys.append(float(met["accuracy"]))
            names.append(m["id"])
    if xs:
        curve.image(plots.learning_curve(xs, ys, names), "learning curve: accuracy vs labels")
    else:
        curve.para("No model version with an evaluation score yet.")
    table.table(["model version", "status", "labels", "accuracy", "macro F1", "ECE"], rows)
    return curve, table


def _confusion(project: Any) -> Section:
    from sklearn.metrics import confusion_matrix

    from labelloop.engine.quality.assess import embed_for_check, resolve_store
    from labelloop.models.versions import load_model

    s = Section("Confusion matrix (serving model, evaluation split)")
    cfg = project.config
    serving = project.store.serving_model_version()
    eval_split = cfg.model.eval_split
    if serving is None or eval_split is None:
        s.para("No serving model or no evaluation split yet.")
        return s
    _, resolution = resolve_store(project.store, cfg)
    ids = [
        it["id"]
        for it in project.store.items(columns=("id", "split"))
        if it["split"] == eval_split and it["id"] in resolution.labels
    ]
    if not ids:
        s.para("The evaluation split has no labels.")
        return s
    model = load_model(Path(serving["artifact_path"]))
    X = embed_for_check(project.store, cfg, project.workdir, ids)
    classes = list(cfg.task.labels)
    pred = [classes[j] for j in model.predict_proba(X).argmax(axis=1)]
    true = [resolution.labels[i].label for i in ids]
    cm = confusion_matrix(true, pred, labels=classes)
    s.image(plots.confusion(cm, classes, f"{serving['id']} on {len(ids)} items"), "confusion matrix")
    s.table(["true \\ predicted", *classes], [(c, *map(int, cm[i])) for i, c in enumerate(classes)])
    return s


def _annotators(quality: dict[str, Any]) -> Section:
    s = Section("Annotators: gold accuracy and agreement")
    gold = quality["gold"]
    if gold["answers"]:
        per = gold["per_annotator"]
        s.image(
            plots.bars(
                {a: r["accuracy"] for a, r in per.items()}, "Gold accuracy per annotator", "accuracy", ylim=(0, 1)
            ),
            "gold accuracy per annotator",
        )
        s.table(
            ["annotator", "gold answers", "correct", "accuracy"],
            [(a, r["answers"], r["correct"], r["accuracy"]) for a, r in per.items()],
        )
        by_round = [
            (a, rnd, r["answers"], r["accuracy"])
            for a, rounds in gold["per_annotator_round"].items()
            for rnd, r in rounds.items()
        ]
        s.table(["annotator", "round", "gold answers", "accuracy"], by_round)
    else:
        s.para("No gold item has been answered yet.")
    agr = quality["agreement"]
    if agr["overlap_items"]:
        s.table(
            ["measure", "value"],
            [
                ("items with several annotators", agr["overlap_items"]),
                ("percent agreement", agr.get("percent")),
                ("Krippendorff's alpha (nominal)", agr.get("krippendorff_alpha_nominal")),
                ("Fleiss' kappa", agr.get("fleiss_kappa")),
            ],
        )
        s.table(
            ["annotator pair", "items", "Cohen's kappa", "percent"],
            [(p, r["items"], r["cohen_kappa"], r["percent"]) for p, r in agr.get("pairs", {}).items()],
        )
        s.table(["class", "specific agreement"], list((agr.get("per_class") or {}).items()))
    else:
        s.para("No item has two annotators yet (set quality.overlap.share).")
    return s


def _gates(quality: dict[str, Any]) -> Section:
    s = Section("Quality gates")
    s.table(
        ["gate", "status", "value", "threshold", "detail"],
        [(g["gate"], g["status"], g["value"], g["threshold"], g["detail"]) for g in quality["gates"]],
    )
    res = quality["resolution"]
    s.para(
        f"Resolution: {res['resolved']} items resolved ({', '.join(f'{k}: {v}' for k, v in res['by_rule'].items())}); "
        f"{len(res['review_queue'])} waiting for review; adjudication method {res['method']}."
    )
    au = quality["autolabel_audit"]
    s.para(f"Auto-labels: {au['auto_labels']}, audited {au['audited']}, audit precision {au['audit_precision']}.")
    return s


def _ops(project: Any) -> Section:
    from labelloop.engine.metrics.ops import load_random_ratios, ops_from_store

    s = Section("Operations: throughput, lead time, cost")
    ratios_file = Path(__file__).resolve().parents[2] / "bench" / "strategies.json"
    ratios = load_random_ratios(ratios_file) if ratios_file.is_file() else None
    ops = ops_from_store(project.store, project.config, random_ratios=ratios).as_dict()
    o, cur = ops["overall"], ops["currency"]

    def stat(st: dict[str, Any], key: str) -> Any:
        v = None if st is None else st.get(key)
        return round(v, 1) if isinstance(v, float) else v

    s.table(
        ["measure", "value"],
        [
            ("answers (labels + skips)", o["answers"]),
            ("labels", o["labels"]),
            ("annotators", o["annotators"]),
            ("lead time median / p90 (s)", f"{stat(o['lead_time_s'], 'median')} / {stat(o['lead_time_s'], 'p90')}"),
            ("labels per annotated hour", o["labels_per_annotated_hour"]),
            ("labels per active hour", o["labels_per_active_hour"]),
            ("turnaround push → label median / p90 (s)", f"{stat(o['turnaround_s'], 'median')} / "
             f"{stat(o['turnaround_s'], 'p90')}"),
            ("backlog (pushed, unanswered)", ops["backlog"]),
            ("review backlog", ops["review_backlog"]),
            ("pre-label acceptance", o["acceptance"]["rate"]),
            ("auto-label share", ops["auto_label_share"]),
            (f"cost ({cur})", o["cost"]),
            (f"cost per label ({cur})", o["cost_per_label"]),
            ("labels saved vs random (estimate)", ops["labels_saved"]["estimated"]),
        ],
    )  # fmt: skip
    s.para(f"Labels saved: {ops['labels_saved']['method']}")
    days = sorted(ops["per_day"])
    if days:
        per_day = ops["per_day"]
        s.image(
            plots.series(
                days,
                {
                    "labels per annotated hour": [per_day[d]["labels_per_annotated_hour"] for d in days],
                    "labels per active hour": [per_day[d]["labels_per_active_hour"] for d in days],
                },
                "Throughput over time",
                "labels / hour",
            ),
            "throughput over time",
        )
        s.image(
            plots.series(
                days,
                {
                    "median": [stat(per_day[d]["lead_time_s"], "median") for d in days],
                    "p90": [stat(per_day[d]["lead_time_s"], "p90") for d in days],
                },
                "Annotation lead time over time",
                "seconds",
            ),
            "lead time over time",
        )
    s.table(
        ["annotator", "labels", "lead time median (s)", "labels / annotated h", "acceptance", f"cost / label ({cur})"],
        [
            (a, g["labels"], stat(g["lead_time_s"], "median"), g["labels_per_annotated_hour"],
             g["acceptance"]["rate"], g["cost_per_label"])
            for a, g in ops["per_annotator"].items()
        ],
    )  # fmt: skip
    s.table(
        ["round", "strategy", "pushed", "labels", "backlog", "turnaround median (s)", "acceptance"],
        [
            (r, ops["rounds"].get(r, {}).get("strategy"), g["pushed"], g["labels"], g["backlog"],
             stat(g["turnaround_s"], "median"), g["acceptance"]["rate"])
            for r, g in ops["per_round"].items()
        ],
    )  # fmt: skip
    s.table(
        ["pre-label acceptance by", "shown", "accepted", "rate"],
        [(f"class {c}", a["shown"], a["accepted"], a["rate"]) for c, a in ops["acceptance_by_class"].items()]
        + [(f"model {m}", a["shown"], a["accepted"], a["rate"]) for m, a in ops["acceptance_by_model_version"].items()],
    )
    for note in ops["notes"]:
        s.para(note)
    return s


def _drift(project: Any) -> Section:
    from labelloop.engine.metrics.batch_drift import latest_batch_drift

    s = Section("Drift: newest items vs the serving model's training data")
    d = latest_batch_drift(project.store, project.config, project.workdir)
    if d.report is None:
        s.para(f"Not measured: {d.note}.")
        return s
    r = d.report
    s.para(
        f"Model {d.model_version}; reference: {d.reference_items} training items; batch: {d.batch_items} items of "
        f"ingest run {d.ingest_run_id} not trained on. Alert: {'YES' if r.alert else 'no'}."
    )
    rows: list[tuple[Any, ...]] = []
    if r.mmd is not None:
        rows.append(("embedding MMD", r.mmd.statistic, r.mmd.p_value))
    if r.classifier is not None:
        rows.append(("domain classifier AUC", r.classifier.statistic, r.classifier.p_value))
    if r.label_shift is not None:
        rows.append(("predicted-label PSI", r.label_shift.psi, r.label_shift.chi2_p_value))
    if r.confidence_drop is not None:
        rows.append(("confidence drop", r.confidence_drop, None))
    s.table(["test", "value", "p-value"], rows)
    s.para("Reasons: " + ("; ".join(r.reasons) if r.reasons else "none") + f". Thresholds: {r.thresholds}.")
    return s


def _budget_forecast(project: Any) -> Section:
    from labelloop.engine.metrics.forecast import forecast_from_ops
    from labelloop.engine.metrics.ops import ops_from_store
    from labelloop.engine.rounds.budget import budget_state

    s = Section("Budget and capacity forecast")
    b = budget_state(project.store, project.config).as_dict()
    cur = b["currency"]
    s.table(
        ["budget", "value"],
        [
            ("period", f"{b['period']} from {b['period_start'][:10]} to {b['period_end'][:10]}"),
            ("answers this period", b["answers_in_period"]),
            ("committed answers (pushed, unanswered)", b["committed_answers"]),
            (f"spent ({cur})", b["spent"]),
            (f"committed ({cur})", b["committed_cost"]),
            ("period cap: labels / money", f"{b['period_labels']} / {b['period_cost']}"),
            ("remaining: labels / money", f"{b['remaining_period_labels']} / {b['remaining_period_cost']}"),
            ("tasks a round may push now", "no cap" if b["tasks_allowed"] is None else b["tasks_allowed"]),
        ],
    )
    ops = ops_from_store(project.store, project.config).as_dict()
    points = []
    for m in project.store.model_versions():
        met = m["metrics"] or {}
        if met.get("accuracy") is not None:
            points.append((int(met.get("train_labels", 0)) + int(met.get("calibration_labels", 0)), met["accuracy"]))
    best = max((a for _, a in points), default=None)
    leads = [float(e["lead_time_s"]) for e in project.store.label_events() if e.get("lead_time_s") is not None]
    f = forecast_from_ops(
        ops,
        points,
        target_accuracy=None if best is None else min(0.99, best + 0.02),
        lead_times_s=leads,
    )

    def fmt(block: dict[str, Any]) -> str:
        v = block["value"]
        if v is None:
            return f"no forecast: {block['note']} ({block['basis']})"
        return f"{v['p50']:.1f} {block['unit']} (80%: {v['p10']:.1f}–{v['p90']:.1f}; {block['basis']})"

    rows = [
        ("backlog (answers waiting)", f["backlog"]),
        ("days to clear the backlog", fmt(f["backlog_days"])),
        ("backlog done by", " / ".join(f"{k}: {v}" for k, v in f.get("backlog_done_by", {}).items()) or "–"),
        ("annotator-hours for the backlog", fmt(f["hours_for_labels"])),
        (
            "team pace (labels per active hour, sum over annotators)",
            f"{f['team_labels_per_active_hour']:.1f} → {f['team_active_hours_for_backlog']:.1f} h of joint work "
            f"for the backlog"
            if "team_labels_per_active_hour" in f
            else "not measured yet",
        ),
    ]
    if "labels_for_accuracy" in f:
        la = f["labels_for_accuracy"]
        rows.append((f"labels to reach accuracy {la['target']:.3f}", fmt(la)))
    s.table(["forecast", "value"], rows)
    s.para(
        "Intervals are 10th–90th percentiles of bootstrap resamples: of labelled days (backlog), of lead times "
        "(hours), of model versions' (labels, accuracy) points fitted with acc(n) = a − b·n^(−c) (labels)."
    )
    return s


ExtraSection = Callable[[Any], Section]


def build_report(
    project: Any, out_dir: Path, *, extra_sections: Sequence[ExtraSection] = (), title: str | None = None
) -> ReportResult:
    """Write ``report.html`` and ``report.md`` into ``out_dir`` from the project's store."""
    out_dir.mkdir(parents=True, exist_ok=True)
    status = project.status()
    quality = project.quality(label_errors=False).as_dict()
    curve, per_version = _models(project)
    sections = [_summary(project, status), curve, per_version, _confusion(project), _annotators(quality)]
    from labelloop.engine.reporting.triage import triage_section

    for make in (_ops, _drift, _budget_forecast, triage_section, *extra_sections):
        try:
            sections.append(make(project))
        except Exception as exc:  # a failing optional section must not hide the rest of the report; it says why
            log.exception("report section failed")
            broken = Section(getattr(make, "__name__", "section"))
            broken.para(f"This section could not be computed: {type(exc).__name__}: {exc}")
            sections.append(broken)
    sections.append(_gates(quality))
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    heading = title or f"labelloop report: {status['project']}"
    body = "".join(f"<h2>{html.escape(s.title)}</h2>{''.join(s.html)}" for s in sections)
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(heading)}</title>'
        f"<style>{CSS}</style></head><body><h1>{html.escape(heading)}</h1>"
        f'<p class="meta">generated {now}</p>{body}</body></html>'
    )
    md = [f"# {heading}\n", f"generated {now}\n"]
    for s in sections:
        md.append(f"## {s.title}\n")
        md.extend(s.md)
    html_path, md_path = out_dir / "report.html", out_dir / "report.md"
    html_path.write_text(page, encoding="utf-8")
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")
    log.info("report written html=%s md=%s", html_path, md_path)
    return ReportResult(str(html_path), str(md_path), [s.title for s in sections])
