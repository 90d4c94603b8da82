"""Client pieces that need no server: cursor format, task payloads, project keys, errors before any request."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from labelloop.connectors.labelstudio.client import (
    LabelStudioClient,
    _Cursor,
    _task_payload,
    project_marker,
)
from labelloop.connectors.labelstudio.config import LabelSchema, text_classification_config
from labelloop.connectors.labelstudio.types import PreLabel, PulledTask, TaskToPush


class _NoNetwork:
    """Any attribute access is a request we did not expect."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected SDK call: {name}")


def _offline_client(labels: list[str]) -> LabelStudioClient:
    client = LabelStudioClient("http://127.0.0.1:1", _NoNetwork())
    client._schemas[1] = LabelSchema.from_config(text_classification_config(labels))
    return client


def test_cursor_round_trips() -> None:
    cursor = _Cursor(
        project=3, after=dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC), seen={5: "2026-01-02T03:04:05Z"}
    )
    assert _Cursor.decode(cursor.encode()) == cursor
    assert '"after": "2026-01-02T03:04:05.123456Z"' in cursor.encode()


@pytest.mark.parametrize("text", ["", "garbage", '{"v": 2}', '{"v": 1}', '{"v": 1, "after": "2026-01-01T00:00:00Z"}'])
def test_bad_cursor_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="not a pull cursor"):
        _Cursor.decode(text)


def test_cursor_of_another_project_is_rejected_before_any_request() -> None:
    cursor = _Cursor(project=2, after=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), seen={}).encode()
    with pytest.raises(ValueError, match="cursor belongs to project 2, not to project 1"):
        _offline_client(["pos", "neg"]).pull_changes(1, cursor)


def test_task_payload_carries_item_id_text_and_prediction() -> None:
    payload = _task_payload(TaskToPush(7, "hello", PreLabel("pos", 0.25, "m-1")))
    assert payload["data"] == {"text": "hello", "item_id": 7}
    (pred,) = payload["predictions"]
    assert pred["model_version"] == "m-1" and pred["score"] == 0.25
    assert pred["result"][0]["value"] == {"choices": ["pos"]}
    assert "predictions" not in _task_payload(TaskToPush(8, "x"))


@pytest.mark.parametrize("key", ["", "a b", "tab\tkey"])
def test_project_key_must_be_stable_token(key: str) -> None:
    with pytest.raises(ValueError, match="project key"):
        project_marker(key)


def test_unknown_prelabel_rejected_before_any_request() -> None:
    client = _offline_client(["pos", "neg"])
    tasks = [TaskToPush(1, "a", PreLabel("pos", 0.5, "m")), TaskToPush(2, "b", PreLabel("maybe", 0.5, "m"))]
    with pytest.raises(ValueError, match="unknown label 'maybe' for item 2"):
        client.push_tasks(1, tasks)


@pytest.mark.parametrize(
    ("tasks", "match"),
    [
        ([TaskToPush(1, "a"), TaskToPush(1, "b")], "item 1 appears twice"),
        ([TaskToPush(3, "")], "item 3 has an empty text"),
        ([TaskToPush(4, "a", PreLabel("pos", 1.5, "m"))], "score for item 4"),
    ],
)
def test_bad_pushes_rejected_before_any_request(tasks: list[TaskToPush], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _offline_client(["pos", "neg"]).push_tasks(1, tasks)


def test_unknown_annotation_label_rejected_before_any_request() -> None:
    with pytest.raises(ValueError, match="unknown label 'x' for task 9"):
        _offline_client(["pos", "neg"]).create_annotation(9, "x", project_id=1)


def test_repr_never_shows_secrets() -> None:
    assert repr(_offline_client(["a", "b"])) == "LabelStudioClient(url='http://127.0.0.1:1')"


def test_pull_cursor_overlap_catches_late_commits_without_repeats(monkeypatch: pytest.MonkeyPatch) -> None:
    """A task stamped just BEFORE the cursor but committed after the previous pull is still reported once."""
    client = _offline_client(["pos", "neg"])
    listing: list[dict[str, Any]] = []
    exported: list[list[int]] = []
    monkeypatch.setattr(client, "_list_tasks", lambda project_id, include, query: list(listing))

    def fake_export(project_id: int, ids: list[int]) -> list[PulledTask]:
        exported.append(list(ids))
        return [PulledTask(task_id=i, item_id=i, updated_at=dt.datetime.now(dt.UTC)) for i in ids]

    monkeypatch.setattr(client, "_export", fake_export)
    listing[:] = [{"id": 1, "updated_at": "2026-01-01T00:00:10.000000Z"}]
    pulled, cursor = client.pull_changes(1, None)
    assert [t.task_id for t in pulled] == [1]

    # same task, same stamp, still inside the overlap window: not reported again
    assert client.pull_changes(1, cursor)[0] == []
    # a late commit stamped 0.5 s before the cursor shows up now; task 1 is unchanged
    listing.append({"id": 2, "updated_at": "2026-01-01T00:00:09.500000Z"})
    pulled, cursor = client.pull_changes(1, cursor)
    assert [t.task_id for t in pulled] == [2]
    assert client.pull_changes(1, cursor)[0] == []
    # an edit of task 1 (new stamp) is reported
    listing[0] = {"id": 1, "updated_at": "2026-01-01T00:00:11.000000Z"}
    pulled, cursor = client.pull_changes(1, cursor)
    assert [t.task_id for t in pulled] == [1]
    assert exported == [[1], [2], [1]]
    assert '"after": "2026-01-01T00:00:11.000000Z"' in cursor
