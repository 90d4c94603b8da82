"""The first full round through a real Label Studio: project, push with pre-labels, pull every kind of change."""

from __future__ import annotations

import socket
import stat
from typing import Any

import pytest

from labelloop.connectors.labelstudio import server
from labelloop.connectors.labelstudio.client import LabelStudioClient, connect
from labelloop.connectors.labelstudio.errors import (
    LabelStudioAuthError,
    LabelStudioError,
    LabelStudioUnavailable,
    PortInUseError,
    ProjectConfigMismatch,
)
from labelloop.connectors.labelstudio.simulator import SimulatedAnnotator
from labelloop.connectors.labelstudio.types import PreLabel, TaskToPush

pytestmark = pytest.mark.integration

LABELS = ["positive", "negative", "mixed & other"]


def _tasks(n: int, start: int = 0, model_version: str = "clf-v1") -> list[TaskToPush]:
    return [
        TaskToPush(i, f"redacted text {i}", PreLabel(LABELS[i % 3], round(0.1 + 0.05 * (i % 10), 2), model_version))
        for i in range(start, start + n)
    ]


def _task_count(client: LabelStudioClient, project_id: int) -> int:
    return len(client.pushed_item_ids(project_id))


# ------------------------------------------------------------------------------------------------------ server


def test_server_start_is_idempotent_and_guards_its_port(ls_server: server.ServerConfig, tmp_path: Any) -> None:
    before = server.status(ls_server)
    assert before.running and before.healthy
    again = server.start(ls_server)
    assert again.pid == before.pid  # one server, not two
    other = server.ServerConfig(data_dir=tmp_path / "other", port=ls_server.port)
    with pytest.raises(PortInUseError, match=f"port {ls_server.port}"):
        server.start(other)


def test_token_file_is_private_and_token_never_in_server_log(ls_server: server.ServerConfig) -> None:
    path = server.credentials_path(ls_server)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = server.admin_token(ls_server)
    assert token not in (ls_server.data_dir / "server.log").read_text()


def test_wrong_token_is_an_auth_error(ls_server: server.ServerConfig) -> None:
    with pytest.raises(LabelStudioAuthError, match="refused the token"):
        connect(ls_server.url, "0" * 40)


def test_server_down_is_unavailable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(LabelStudioUnavailable, match="unreachable"):
        connect(f"http://127.0.0.1:{port}", "0" * 40, timeout_s=5)


# ---------------------------------------------------------------------------------------------------- projects


def test_project_created_once_and_found_again(
    ls_server: server.ServerConfig, ls_client: LabelStudioClient, project_key: str
) -> None:
    project_id = ls_client.ensure_project(project_key, "Reviews", LABELS)
    assert ls_client.ensure_project(project_key, "Reviews (renamed)", LABELS) == project_id
    fresh = connect(ls_server.url, server.admin_token(ls_server))  # no cache: found on the server
    assert fresh.ensure_project(project_key, "Reviews", LABELS) == project_id
    assert fresh.schema(project_id).labels == tuple(LABELS)
    with pytest.raises(ProjectConfigMismatch, match="has labels"):
        fresh.ensure_project(project_key, "Reviews", [*LABELS, "new"])


def test_invalid_label_set_rejected_before_creating_anything(ls_client: LabelStudioClient, project_key: str) -> None:
    with pytest.raises(ValueError, match="appears twice"):
        ls_client.ensure_project(project_key, "Bad", ["a", "a"])


# -------------------------------------------------------------------------------------------------------- push


def test_push_with_prelabels_reads_back(
    ls_server: server.ServerConfig, ls_client: LabelStudioClient, project_key: str
) -> None:
    from label_studio_sdk import LabelStudio

    project_id = ls_client.ensure_project(project_key, "Push", LABELS)
    tasks = _tasks(5)
    mapping = ls_client.push_tasks(project_id, tasks, chunk_size=2)
    assert sorted(mapping) == [t.item_id for t in tasks]
    assert len(set(mapping.values())) == 5
    assert ls_client.project_model_version(project_id) == "clf-v1"

    sdk = LabelStudio(base_url=ls_server.url, api_key=server.admin_token(ls_server))
    for task in tasks:
        remote = sdk.tasks.get(id=mapping[task.item_id])
        assert remote.data == {"text": task.text, "item_id": task.item_id}
        (prediction,) = sdk.predictions.list(task=mapping[task.item_id])
        assert prediction.model_version == "clf-v1"
        assert prediction.score == pytest.approx(task.prelabel.score)  # type: ignore[union-attr]
        assert prediction.result[0]["value"]["choices"] == [task.prelabel.label]  # type: ignore[union-attr]


def test_repush_after_a_crash_half_way_creates_no_duplicates(
    ls_client: LabelStudioClient, project_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_id = ls_client.ensure_project(project_key, "Crash", LABELS)
    tasks = _tasks(7)
    projects = ls_client._sdk.projects
    real_import = projects.import_tasks
    calls = {"n": 0}

    def crashing_import(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionResetError("simulated crash after the first chunk")
        return real_import(*args, **kwargs)

    monkeypatch.setattr(projects, "import_tasks", crashing_import)
    with pytest.raises(ConnectionResetError):
        ls_client.push_tasks(project_id, tasks, chunk_size=3)
    monkeypatch.setattr(projects, "import_tasks", real_import)
    assert _task_count(ls_client, project_id) == 3

    mapping = ls_client.push_tasks(project_id, tasks, chunk_size=3)
    assert sorted(mapping) == list(range(7))
    assert _task_count(ls_client, project_id) == 7
    assert ls_client.push_tasks(project_id, tasks) == mapping  # a third push is a no-op


def test_unknown_label_rejected_before_any_write(ls_client: LabelStudioClient, project_key: str) -> None:
    project_id = ls_client.ensure_project(project_key, "Unknown", LABELS)
    tasks = [*_tasks(2), TaskToPush(99, "text", PreLabel("neutral", 0.5, "clf-v1"))]
    with pytest.raises(ValueError, match="unknown label 'neutral' for item 99"):
        ls_client.push_tasks(project_id, tasks)
    assert _task_count(ls_client, project_id) == 0


# -------------------------------------------------------------------------------------------------------- pull


def test_pull_sees_new_edited_deleted_skipped_and_several_annotators(
    ls_client: LabelStudioClient, annotators: dict[str, LabelStudioClient], project_key: str
) -> None:
    one, two = sorted(annotators)
    a, b = annotators[one], annotators[two]
    project_id = ls_client.ensure_project(project_key, "Pull", LABELS)
    mapping = ls_client.push_tasks(project_id, _tasks(4))

    first, cursor = ls_client.pull_changes(project_id, None)
    assert sorted(t.item_id for t in first) == [0, 1, 2, 3]
    assert all(t.annotations == [] for t in first)
    assert ls_client.pull_changes(project_id, cursor)[0] == []

    # new annotations: two annotators on item 0, one on item 1, a skip on item 2
    a0 = a.create_annotation(mapping[0], "positive", project_id=project_id, lead_time_s=4.5)
    b0 = b.create_annotation(mapping[0], "negative", project_id=project_id, lead_time_s=2.0)
    a1 = a.create_annotation(mapping[1], "negative", project_id=project_id)
    a2 = a.create_annotation(mapping[2], None, project_id=project_id, was_cancelled=True)
    pulled, cursor = ls_client.pull_changes(project_id, cursor)
    by_item = {t.item_id: t for t in pulled}
    assert sorted(by_item) == [0, 1, 2]
    item0 = by_item[0].annotations
    assert [x.annotation_id for x in item0] == sorted([a0, b0])
    assert {(x.annotator_email, x.label) for x in item0} == {(one, "positive"), (two, "negative")}
    assert len({x.annotator_id for x in item0}) == 2
    first_a0 = next(x for x in item0 if x.annotation_id == a0)
    assert first_a0.lead_time_s == pytest.approx(4.5)
    assert first_a0.prediction_model_version == "clf-v1"
    assert first_a0.prediction_label == "positive"  # the pre-label shown for item 0
    assert not first_a0.was_cancelled
    (skip,) = by_item[2].annotations
    assert skip.annotation_id == a2 and skip.was_cancelled and skip.label is None
    assert by_item[1].annotations[0].annotation_id == a1

    # pulling again with the new cursor returns nothing
    assert ls_client.pull_changes(project_id, cursor)[0] == []

    # an edit: same id, new label, newer updated_at
    a.update_annotation(a1, "mixed & other", project_id=project_id)
    pulled, cursor = ls_client.pull_changes(project_id, cursor)
    assert [t.item_id for t in pulled] == [1]
    (edited,) = pulled[0].annotations
    assert edited.annotation_id == a1 and edited.label == "mixed & other"
    assert edited.updated_at > by_item[1].annotations[0].updated_at

    # a deletion: the task comes back without the deleted id
    a.delete_annotation(a0)
    pulled, cursor = ls_client.pull_changes(project_id, cursor)
    assert [t.item_id for t in pulled] == [0]
    assert [x.annotation_id for x in pulled[0].annotations] == [b0]
    assert ls_client.pull_changes(project_id, cursor)[0] == []


def test_bad_cursor_is_rejected(ls_client: LabelStudioClient, project_key: str) -> None:
    project_id = ls_client.ensure_project(project_key, "Cursor", LABELS)
    with pytest.raises(ValueError, match="not a pull cursor"):
        ls_client.pull_changes(project_id, "2026-01-01")


def test_simulated_annotators_round_trip(
    ls_client: LabelStudioClient, annotators: dict[str, LabelStudioClient], project_key: str
) -> None:
    project_id = ls_client.ensure_project(project_key, "Simulated", LABELS)
    tasks = _tasks(6, start=100)
    mapping = ls_client.push_tasks(project_id, tasks)
    truth = {t.item_id: LABELS[(t.item_id + 1) % 3] for t in tasks}
    _, cursor = ls_client.pull_changes(project_id, None)
    sim = SimulatedAnnotator(annotators, project_id, LABELS, error_rate=0.3, skip_rate=0.2, seed=7)
    written = sim.annotate(mapping, truth, annotators_per_task=2)
    assert len(written) == 12

    pulled, cursor = ls_client.pull_changes(project_id, cursor)
    got = {a.annotation_id: a for t in pulled for a in t.annotations}
    assert set(got) == {w.annotation_id for w in written}
    for w in written:
        assert got[w.annotation_id].label == w.label
        assert got[w.annotation_id].annotator_email == w.annotator
        assert got[w.annotation_id].was_cancelled == w.was_cancelled

    labelled = next(w for w in written if not w.was_cancelled)
    sim.edit(labelled, next(x for x in LABELS if x != labelled.label))
    sim.delete(written[-1])
    pulled, _ = ls_client.pull_changes(project_id, cursor)
    ids = {a.annotation_id for t in pulled for a in t.annotations}
    assert labelled.annotation_id in ids and written[-1].annotation_id not in ids


def test_non_admin_annotator_cannot_be_used_for_unknown_project(annotators: dict[str, LabelStudioClient]) -> None:
    client = next(iter(annotators.values()))
    with pytest.raises(LabelStudioError):
        client.schema(10**9)


def test_ensure_user_creates_a_user_with_a_working_token_once(ls_server: server.ServerConfig) -> None:
    email = "ann.extra@labelloop.test"
    token = server.ensure_user(email, ls_server)
    assert server.ensure_user(email, ls_server) == token  # known users are not created again
    client = connect(ls_server.url, token)
    assert client.whoami()[1] == email
