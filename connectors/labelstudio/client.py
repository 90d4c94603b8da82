"""Thin client over label-studio-sdk: the only module that touches SDK or HTTP types.

Everything it returns is a plain dataclass from :mod:`labelloop.connectors.labelstudio.types` or a built-in; every
failure is one of :mod:`labelloop.connectors.labelstudio.errors`. It is store-agnostic: the caller keeps the
``{item_id: task_id}`` mapping and the pull cursor.

When to use what:
- :func:`connect` once per process (checks the token: wrong token -> ``LabelStudioAuthError``, server down ->
  ``LabelStudioUnavailable``).
- :meth:`LabelStudioClient.ensure_project` to create or find again (by a stable key) the project of a task.
- :meth:`LabelStudioClient.push_tasks` to send items with their pre-labels; safe to repeat after a crash.
- :meth:`LabelStudioClient.pull_changes` with the cursor of the previous pull to get every task whose annotations
  changed (new, edited, deleted, skipped), with all their current annotations.
- ``create_annotation`` / ``update_annotation`` / ``delete_annotation`` act as the connected user; the engine does
  not annotate, the simulator and tests do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from labelloop.connectors.labelstudio.config import (
    LabelSchema,
    choice_result,
    label_from_result,
    review_config,
    text_classification_config,
    triage_from_result,
    triage_result,
)
from labelloop.connectors.labelstudio.errors import (
    LabelStudioAuthError,
    LabelStudioError,
    LabelStudioRequestError,
    LabelStudioUnavailable,
    ProjectConfigMismatch,
)
from labelloop.connectors.labelstudio.types import PulledAnnotation, PulledTask, TaskToPush

log = logging.getLogger(__name__)

MARKER_PREFIX = "labelloop:"
# Tasks whose updated_at lies within this window before the cursor are re-listed (cheap: ids and timestamps only)
# and dropped if already seen at that exact timestamp: a write whose transaction committed after a later-stamped
# one would otherwise be skipped forever.
# The race it covers lasts milliseconds; the window is also what bounds the cursor's size (tasks touched in it).
CURSOR_OVERLAP = dt.timedelta(seconds=2)
_LIST_PAGE_SIZE = 1000
# Django refuses more than 1,000 query parameters (HTTP 400): 1,000 ids[] in one export fail.
_EXPORT_CHUNK = 200
_NO_RETRY: dict[str, Any] = {"max_retries": 0}


def project_marker(key: str) -> str:
    """The line that identifies our project in its description; the key must be stable across runs."""
    if not key or any(c.isspace() for c in key):
        raise ValueError(f"project key must be a non-empty string without whitespace; got {key!r}")
    return f"{MARKER_PREFIX}{key}"


def _parse_ts(value: Any, *, what: str) -> dt.datetime:
    if not isinstance(value, str):
        raise LabelStudioRequestError(f"server returned no timestamp for {what}: {value!r}")
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _format_ts(value: dt.datetime) -> str:
    """The server's own format (UTC, microseconds, ``Z``), which its Datetime filter compares exactly."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class _Cursor:
    """``after``: the newest server ``updated_at`` seen; ``seen``: task id -> updated_at inside the overlap window.

    ``project`` binds the cursor to its project, so a cursor passed for the wrong project is an error, not a silent
    gap.
    """

    project: int
    after: dt.datetime
    seen: dict[int, str]

    def encode(self) -> str:
        return json.dumps(
            {
                "v": 1,
                "project": self.project,
                "after": _format_ts(self.after),
                "seen": {str(k): v for k, v in self.seen.items()},
            }
        )

    @classmethod
    def decode(cls, text: str) -> _Cursor:
        try:
            raw = json.loads(text)
            if raw.get("v") != 1:
                raise ValueError(f"unknown cursor version {raw.get('v')!r}")
            return cls(
                project=int(raw["project"]),
                after=_parse_ts(raw["after"], what="cursor"),
                seen={int(k): str(v) for k, v in raw["seen"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError, LabelStudioRequestError) as exc:
            raise ValueError(f"not a pull cursor from this client: {text[:80]!r} ({exc})") from exc


class LabelStudioClient:
    """A connection to one Label Studio as one user. Build it with :func:`connect`, not directly."""

    def __init__(self, url: str, sdk: Any) -> None:
        self.url = url
        self._sdk = sdk
        self._schemas: dict[int, LabelSchema] = {}
        self._user_emails: dict[int, str] = {}

    def __repr__(self) -> str:  # never show the token
        return f"LabelStudioClient(url={self.url!r})"

    # ------------------------------------------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Translate SDK/httpx failures into our typed errors, naming the action and the server."""
        import httpx
        from label_studio_sdk.core.api_error import ApiError

        try:
            yield
        except ApiError as exc:
            raise _api_error(exc.status_code, exc.body, action, self.url) from None
        except httpx.HTTPError as exc:
            raise LabelStudioUnavailable(f"{action}: Label Studio at {self.url} is unreachable ({exc!r})") from None

    def _get_json(self, path: str, params: dict[str, Any], action: str) -> Any:
        """A GET the SDK has no method for (filtered task lists, export by ids), with the SDK's auth headers."""
        with self._errors(action):
            resp = self._sdk._client_wrapper.httpx_client.request(
                path, method="GET", params=params, request_options={"max_retries": 1}
            )
        if resp.status_code >= 400:
            body: Any
            try:
                body = resp.json()
            except ValueError:
                body = resp.text[:300]
            raise _api_error(resp.status_code, body, action, self.url)
        return resp.json()

    def _list_tasks(self, project_id: int, include: str, query: dict[str, Any] | None) -> list[dict[str, Any]]:
        """All tasks of a project (light fields only), page by page; the server orders them by id."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            params: dict[str, Any] = {
                "project": project_id,
                "include": include,
                "page_size": _LIST_PAGE_SIZE,
                "page": page,
            }
            if query is not None:
                params["query"] = json.dumps(query)
            try:
                body = self._get_json("api/tasks", params, f"list tasks of project {project_id}")
            except LabelStudioRequestError as exc:
                if exc.status_code == 404 and page > 1:  # "Invalid page": the previous page was the last
                    break
                raise
            tasks = body.get("tasks", [])
            out.extend(tasks)
            if len(tasks) < _LIST_PAGE_SIZE or len(out) >= int(body.get("total", 0)):
                break
            page += 1
        return out

    def schema(self, project_id: int) -> LabelSchema:
        """The project's label set, read from the server once per client (validation needs it before writes)."""
        if project_id not in self._schemas:
            with self._errors(f"get project {project_id}"):
                project = self._sdk.projects.get(id=project_id)
            self._schemas[project_id] = LabelSchema.from_config(project.label_config or "")
        return self._schemas[project_id]

    # ------------------------------------------------------------------------------------------------ projects

    def ensure_project(
        self,
        key: str,
        title: str,
        labels: Sequence[str],
        *,
        review: bool = False,
        hints: Mapping[str, str] | None = None,
        instruction: str | None = None,
        triage: bool = False,
    ) -> int:
        """The id of the project marked ``labelloop:<key>``, created with a text-classification config if absent.

        The config is generated from ``labels`` and validated before use. A found project whose labels differ
        raises :class:`ProjectConfigMismatch` (a label set changes only through :meth:`update_labels`); two projects
        with one key raise :class:`LabelStudioError` naming both ids. A new project gets ``instruction`` (HTML shown
        to annotators before they start), the label ``hints`` and, with ``triage``, the ambiguity flag and comment.
        """
        marker = project_marker(key)
        config = review_config(labels) if review else text_classification_config(labels, hints=hints, triage=triage)
        wanted = LabelSchema.from_config(config)
        with self._errors("list projects"):
            found = [p for p in self._sdk.projects.list() if marker in (p.description or "").splitlines()]
        if len(found) > 1:
            ids = sorted(int(p.id) for p in found)
            raise LabelStudioError(f"{len(found)} projects carry the key {marker!r} (ids {ids}); delete all but one")
        if found:
            project_id = int(found[0].id)
            existing = LabelSchema.from_config(found[0].label_config or "")
            if existing.labels != wanted.labels:
                raise ProjectConfigMismatch(
                    f"project {project_id} ({marker}) has labels {list(existing.labels)!r}, asked for "
                    f"{list(wanted.labels)!r}; use a new key or migrate the project deliberately "
                    "(labelloop taxonomy migrate)"
                )
            self._schemas[project_id] = existing
            log.info("labelstudio.project found key=%s project_id=%s", key, project_id)
            return project_id
        description = f"{marker}\nManaged by labelloop: do not edit the labeling config by hand."
        with self._errors(f"create project {marker}"):
            project = self._sdk.projects.create(
                title=title[:50],
                description=description,
                label_config=config,
                request_options=_NO_RETRY,
                **({"expert_instruction": instruction, "show_instruction": True} if instruction else {}),
            )
        project_id = int(project.id)
        self._schemas[project_id] = wanted
        log.info("labelstudio.project created key=%s project_id=%s labels=%d", key, project_id, len(wanted.labels))
        return project_id

    def find_project(self, key: str) -> int | None:
        """The id of the project marked ``labelloop:<key>``, or None; whatever its labels (for migrations)."""
        marker = project_marker(key)
        with self._errors("list projects"):
            found = sorted(int(p.id) for p in self._sdk.projects.list() if marker in (p.description or "").splitlines())
        if len(found) > 1:
            raise LabelStudioError(f"{len(found)} projects carry the key {marker!r} (ids {found}); delete all but one")
        return found[0] if found else None

    def labels_in_use(self, project_id: int) -> dict[str, int]:
        """``{label: annotations choosing it}`` over every annotation now in the project (skips carry none)."""
        annotated = [
            int(t["id"])
            for t in self._list_tasks(project_id, "id,total_annotations", None)
            if int(t.get("total_annotations") or 0) > 0
        ]
        counts: dict[str, int] = {}
        for task in self._export(project_id, annotated) if annotated else []:
            for ann in task.annotations:
                if ann.label is not None:
                    counts[ann.label] = counts.get(ann.label, 0) + 1
        return counts

    def update_labels(
        self,
        project_id: int,
        labels: Sequence[str],
        *,
        hints: Mapping[str, str] | None = None,
        instruction: str | None = None,
        triage: bool = True,
        mapped: Sequence[str] = (),
    ) -> list[str]:
        """Replace the project's label set, hints and instructions; returns the labels dropped.

        Label Studio accepts a config that drops a label annotations still use (their results then name a choice
        that no longer exists). Here a dropped label still in use raises :class:`ProjectConfigMismatch` unless it
        is in ``mapped`` (the caller reads its old annotations as another label, or sends them back for relabeling).
        """
        config = text_classification_config(labels, hints=hints, triage=triage)
        wanted = LabelSchema.from_config(config)
        with self._errors(f"get project {project_id}"):
            current = LabelSchema.from_config(self._sdk.projects.get(id=project_id).label_config or "")
        dropped = [label for label in current.labels if label not in wanted.labels]
        if dropped:
            used = self.labels_in_use(project_id)
            unmapped = {label: used[label] for label in dropped if used.get(label) and label not in mapped}
            if unmapped:
                raise ProjectConfigMismatch(
                    f"project {project_id}: dropping {sorted(unmapped)} would orphan annotations that use them "
                    f"({unmapped}); map them to another label (rename, merge, retire into) or split them"
                )
        options: dict[str, Any] = {"label_config": config}
        if instruction is not None:
            options.update(expert_instruction=instruction, show_instruction=True)
        with self._errors(f"update project {project_id}"):
            self._sdk.projects.update(id=project_id, **options)
        self._schemas[project_id] = wanted
        log.info("labelstudio.project labels_updated project_id=%s dropped=%s", project_id, dropped)
        return dropped

    def project_instructions(self, project_id: int) -> tuple[str, bool]:
        """(the instructions' HTML, whether they are shown before labeling) as the server holds them."""
        with self._errors(f"get project {project_id}"):
            project = self._sdk.projects.get(id=project_id)
        return str(project.expert_instruction or ""), bool(project.show_instruction)

    def project_label_config(self, project_id: int) -> str:
        with self._errors(f"get project {project_id}"):
            return str(self._sdk.projects.get(id=project_id).label_config or "")

    def requeue_tasks(self, project_id: int, tasks: Sequence[TaskToPush], *, tag: str) -> dict[int, int]:
        """Fresh tasks for items already in the project (sent back for relabeling), marked ``data.requeue=tag``;
        returns ``{item_id: new task_id}``. Repeating it with the same tag creates nothing new."""
        existing: dict[int, int] = {}
        for task in self._list_tasks(project_id, "id,data", None):
            data = task.get("data") or {}
            if data.get("requeue") == tag and data.get("item_id") is not None:
                existing.setdefault(int(data["item_id"]), int(task["id"]))
        todo = [t for t in tasks if t.item_id not in existing]
        for start in range(0, len(todo), _EXPORT_CHUNK):
            chunk = todo[start : start + _EXPORT_CHUNK]
            payload = [{**_task_payload(t), "data": {**_task_payload(t)["data"], "requeue": tag}} for t in chunk]
            with self._errors(f"re-queue {len(chunk)} tasks into project {project_id}"):
                response = self._sdk.projects.import_tasks(
                    id=project_id, request=payload, return_task_ids=True, request_options=_NO_RETRY
                )
            task_ids = list(response.task_ids or [])
            if len(task_ids) != len(chunk):
                raise LabelStudioRequestError(f"re-queue returned {len(task_ids)} task ids for {len(chunk)} tasks")
            existing.update({t.item_id: int(tid) for t, tid in zip(chunk, task_ids, strict=True)})
        log.info("labelstudio.requeue project_id=%s tag=%s items=%d new=%d", project_id, tag, len(tasks), len(todo))
        return {t.item_id: existing[t.item_id] for t in tasks}

    # ---------------------------------------------------------------------------------------------------- push

    def pushed_item_ids(self, project_id: int) -> dict[int, int]:
        """``{item_id: task_id}`` of the tasks already in the project (tasks without our item_id are ignored)."""
        mapping: dict[int, int] = {}
        for task in self._list_tasks(project_id, "id,data", None):
            item_id = (task.get("data") or {}).get("item_id")
            if item_id is None or (task.get("data") or {}).get("requeue"):  # re-queued copies: not the push's task
                continue
            if int(item_id) in mapping:
                log.warning(
                    "labelstudio.push duplicate_task project_id=%s item_id=%s task_ids=%s,%s",
                    project_id,
                    item_id,
                    mapping[int(item_id)],
                    task["id"],
                )
                continue  # keep the oldest (lowest id: the list is ordered by id)
            mapping[int(item_id)] = int(task["id"])
        return mapping

    def push_tasks(self, project_id: int, tasks: Sequence[TaskToPush], *, chunk_size: int = 500) -> dict[int, int]:
        """Create one task per item (text + item_id in data, pre-label as a prediction); returns ``{item_id: task_id}``
        for EVERY given item, including those already in the project.

        Every pre-label is checked against the project's labels before anything is written (unknown label ->
        ``ValueError`` naming label and item). Items already present (by ``data.item_id``) are skipped, so repeating a
        push after a crash half-way creates no duplicates. Imports are sent with ``max_retries=0``: the SDK would
        otherwise retry a POST on a 5xx and may import a chunk twice.
        """
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")
        schema = self.schema(project_id)
        seen: set[int] = set()
        for task in tasks:
            if task.item_id in seen:
                raise ValueError(f"item {task.item_id} appears twice in one push")
            seen.add(task.item_id)
            if not isinstance(task.text, str) or not task.text:
                raise ValueError(f"item {task.item_id} has an empty text (the server rejects the whole chunk)")
            if task.prelabel is not None:
                p = task.prelabel
                schema.check_prediction(p.label, p.score, p.model_version, context=f"item {task.item_id}")
        mapping = self.pushed_item_ids(project_id)
        todo = [t for t in tasks if t.item_id not in mapping]
        log.info(
            "labelstudio.push start project_id=%s items=%d already_present=%d to_create=%d",
            project_id,
            len(tasks),
            len(tasks) - len(todo),
            len(todo),
        )
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start : start + chunk_size]
            payload = [_task_payload(t) for t in chunk]
            with self._errors(f"import {len(chunk)} tasks into project {project_id}"):
                response = self._sdk.projects.import_tasks(
                    id=project_id, request=payload, return_task_ids=True, request_options=_NO_RETRY
                )
            task_ids = list(response.task_ids or [])
            if len(task_ids) != len(chunk):
                raise LabelStudioRequestError(
                    f"import into project {project_id} returned {len(task_ids)} task ids for {len(chunk)} tasks"
                )
            mapping.update({t.item_id: int(tid) for t, tid in zip(chunk, task_ids, strict=True)})
            log.info("labelstudio.push chunk project_id=%s created=%d", project_id, len(chunk))
        return {t.item_id: mapping[t.item_id] for t in tasks}

    # ---------------------------------------------------------------------------------------------------- pull

    def pull_changes(self, project_id: int, cursor: str | None) -> tuple[list[PulledTask], str]:
        """Tasks changed since ``cursor`` (None: all tasks), each with ALL its current annotations; and the next cursor.

        Changes are found by the server's ``task.updated_at`` (bumped by creating, editing, deleting an annotation
        and by adding a prediction), never by the local clock. The caller detects new/edited/deleted annotations by
        comparing annotation ids and ``updated_at`` with its store. Pulling again with the returned cursor returns
        nothing until something changes. Tasks with no ``item_id`` in their data (made by hand in the UI) are
        logged and left out.
        """
        state = _Cursor.decode(cursor) if cursor is not None else None
        if state is not None and state.project != project_id:
            raise ValueError(f"cursor belongs to project {state.project}, not to project {project_id}")
        query = None
        if state is not None:
            since = state.after - CURSOR_OVERLAP
            query = {
                "filters": {
                    "conjunction": "and",
                    "items": [
                        {
                            "filter": "filter:tasks:updated_at",
                            "operator": "greater",
                            "type": "Datetime",
                            "value": _format_ts(since),
                        }
                    ],
                }
            }
        listed = self._list_tasks(project_id, "id,updated_at", query)
        seen = dict(state.seen) if state is not None else {}
        changed_ids: list[int] = []
        newest = state.after if state is not None else None
        for task in listed:
            task_id, stamp = int(task["id"]), str(task["updated_at"])
            if seen.get(task_id) == stamp:
                continue
            changed_ids.append(task_id)
            seen[task_id] = stamp
            ts = _parse_ts(stamp, what=f"task {task_id}")
            newest = ts if newest is None or ts > newest else newest
        if newest is None:  # empty project, first pull: start from the epoch
            newest = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        window_start = newest - CURSOR_OVERLAP
        next_cursor = _Cursor(
            project=project_id,
            after=newest,
            seen={k: v for k, v in seen.items() if _parse_ts(v, what=f"task {k}") > window_start},
        ).encode()
        pulled = self._export(project_id, changed_ids) if changed_ids else []
        log.info(
            "labelstudio.pull project_id=%s changed_tasks=%d annotations=%d",
            project_id,
            len(pulled),
            sum(len(t.annotations) for t in pulled),
        )
        return pulled, next_cursor

    def _export(self, project_id: int, task_ids: list[int]) -> list[PulledTask]:
        out: list[PulledTask] = []
        missing_item = 0
        for start in range(0, len(task_ids), _EXPORT_CHUNK):
            ids = task_ids[start : start + _EXPORT_CHUNK]
            body = self._get_json(
                f"api/projects/{project_id}/export",
                # download_all_tasks: else a task whose last annotation was deleted is left out of the export.
                {"exportType": "JSON", "ids[]": ids, "download_all_tasks": "true"},
                f"export {len(ids)} tasks of project {project_id}",
            )
            for task in body:
                item_id = (task.get("data") or {}).get("item_id")
                if item_id is None:
                    missing_item += 1
                    continue
                out.append(self._to_pulled_task(task, int(item_id)))
        schema = self.schema(project_id)
        for pulled in out:
            for ann in pulled.annotations:
                if ann.label is not None and ann.label not in schema.labels:
                    # Kept as is: the config was edited on the server; the caller decides what an unknown label means.
                    log.warning(
                        "labelstudio.pull unknown_label project_id=%s task_id=%s annotation_id=%s label=%r",
                        project_id,
                        pulled.task_id,
                        ann.annotation_id,
                        ann.label,
                    )
        if missing_item:
            log.warning("labelstudio.pull tasks_without_item_id project_id=%s count=%d", project_id, missing_item)
        out.sort(key=lambda t: t.task_id)
        return out

    def _to_pulled_task(self, task: dict[str, Any], item_id: int) -> PulledTask:
        task_id = int(task["id"])
        annotations = [self._to_pulled_annotation(a, task_id) for a in task.get("annotations") or []]
        annotations.sort(key=lambda a: a.annotation_id)
        return PulledTask(
            task_id=task_id,
            item_id=item_id,
            updated_at=_parse_ts(task.get("updated_at"), what=f"task {task_id}"),
            annotations=annotations,
        )

    def _to_pulled_annotation(self, ann: dict[str, Any], task_id: int) -> PulledAnnotation:
        annotation_id = int(ann["id"])
        completed_by = ann.get("completed_by")
        if isinstance(completed_by, dict):  # some export flavours expand the user
            annotator_id: int | None = int(completed_by["id"])
            email: str | None = completed_by.get("email")
        else:
            annotator_id = int(completed_by) if completed_by is not None else None
            email = self._email(annotator_id) if annotator_id is not None else None
        try:
            label = label_from_result(ann.get("result"))
        except ValueError as exc:
            raise LabelStudioRequestError(f"annotation {annotation_id} of task {task_id}: {exc}") from None
        prediction = ann.get("prediction") or {}
        try:
            prediction_label = label_from_result(prediction.get("result"))
        except ValueError:
            prediction_label = None
        ambiguous, comment = triage_from_result(ann.get("result"))
        lead_time = ann.get("lead_time")
        score = prediction.get("score")
        return PulledAnnotation(
            annotation_id=annotation_id,
            task_id=task_id,
            label=label,
            annotator_id=annotator_id,
            annotator_email=email,
            created_at=_parse_ts(ann.get("created_at"), what=f"annotation {annotation_id}"),
            updated_at=_parse_ts(ann.get("updated_at"), what=f"annotation {annotation_id}"),
            lead_time_s=float(lead_time) if lead_time is not None else None,
            was_cancelled=bool(ann.get("was_cancelled")),
            ground_truth=bool(ann.get("ground_truth")),
            prediction_model_version=prediction.get("model_version") or None,
            prediction_label=prediction_label,
            prediction_score=float(score) if score is not None else None,
            ambiguous=ambiguous,
            comment=comment,
        )

    def _email(self, user_id: int) -> str | None:
        """Emails by user id, listed once per client and again when an unknown id shows up."""
        if user_id not in self._user_emails:
            try:
                users = self._get_json("api/users/", {}, "list users")
            except LabelStudioAuthError:  # a non-admin token may not list users: leave the email unknown
                return None
            self._user_emails.update({int(u["id"]): str(u.get("email") or "") for u in users})
        return self._user_emails.get(user_id) or None

    # -------------------------------------------------------------------- annotating (simulator and tests only)

    def create_annotation(
        self,
        task_id: int,
        label: str | None,
        *,
        project_id: int,
        lead_time_s: float | None = None,
        was_cancelled: bool = False,
        ambiguous: bool = False,
        comment: str | None = None,
    ) -> int:
        """Annotate ``task_id`` as the connected user (``label=None`` with ``was_cancelled=True`` is a skip;
        ``ambiguous`` flags the item as unclear under the guideline, with an optional ``comment``)."""
        if label is None and not was_cancelled and not ambiguous:
            raise ValueError(f"task {task_id}: an annotation needs a label unless it is a skip or flagged ambiguous")
        result: list[dict[str, Any]] = []
        if label is not None:
            self.schema(project_id).check_label(label, context=f"task {task_id}")
            result = choice_result(label)
        result += triage_result(ambiguous=ambiguous, comment=comment)
        with self._errors(f"annotate task {task_id}"):
            ann = self._sdk.annotations.create(
                id=task_id,
                result=result,
                lead_time=lead_time_s,
                was_cancelled=was_cancelled,
                request_options=_NO_RETRY,
            )
        return int(ann.id)

    def update_annotation(self, annotation_id: int, label: str, *, project_id: int) -> None:
        """Change an annotation's label in place (same id; the server bumps its and its task's ``updated_at``)."""
        self.schema(project_id).check_label(label, context=f"annotation {annotation_id}")
        with self._errors(f"update annotation {annotation_id}"):
            self._sdk.annotations.update(id=annotation_id, result=choice_result(label))

    def delete_annotation(self, annotation_id: int) -> None:
        with self._errors(f"delete annotation {annotation_id}"):
            self._sdk.annotations.delete(id=annotation_id)

    def set_task_overlap(self, project_id: int, task_ids: Sequence[int], *, annotators: int) -> int:
        """Ask for ``annotators`` people on each of these tasks (the task's ``overlap``, which Label Studio's label
        stream honours); returns how many tasks changed.

        Label Studio's own cohort (``maximum_annotations`` + ``overlap_cohort_percentage``) is switched off for the
        project (1 annotator, 100%): on every import it re-deals the cohort over *all* the project's tasks, filling
        it with already-annotated ones first, so the tasks of later rounds got almost no overlap. Choosing the
        cohort per round is ours (:func:`labelloop.engine.rounds.push.overlap_cohort`)."""
        if annotators < 1:
            raise ValueError(f"annotators must be >= 1, got {annotators}")
        with self._errors(f"get project {project_id}"):
            project = self._sdk.projects.get(id=project_id)
        if project.maximum_annotations != 1 or project.overlap_cohort_percentage != 100:
            with self._errors(f"switch off the project-wide overlap cohort of project {project_id}"):
                self._sdk.projects.update(id=project_id, maximum_annotations=1, overlap_cohort_percentage=100)
        current = self.task_overlaps(project_id, by="task")
        changed = 0
        for task_id in task_ids:
            if current.get(int(task_id)) == annotators:
                continue
            with self._errors(f"set overlap {annotators} on task {task_id} of project {project_id}"):
                self._sdk.tasks.update(id=str(task_id), overlap=annotators)
            changed += 1
        log.info(
            "labelstudio.overlap project_id=%s tasks=%d changed=%d annotators=%d",
            project_id,
            len(task_ids),
            changed,
            annotators,
        )
        return changed

    def task_overlaps(self, project_id: int, *, by: Literal["item", "task"] = "item") -> dict[int, int]:
        """``{item_id: overlap}`` (or ``{task_id: overlap}``): how many annotators Label Studio wants on each task."""
        out: dict[int, int] = {}
        for task in self._list_tasks(project_id, "id,data,overlap", None):
            key = task.get("id") if by == "task" else (task.get("data") or {}).get("item_id")
            if key is not None:
                out[int(key)] = int(task.get("overlap") or 1)
        return out

    def project_model_version(self, project_id: int) -> str | None:
        """The project's current model version (set by the server from imported predictions)."""
        with self._errors(f"get project {project_id}"):
            return self._sdk.projects.get(id=project_id).model_version or None

    def whoami(self) -> tuple[int, str]:
        """(user id, email) of the connected user."""
        with self._errors("who am I"):
            user = self._sdk.users.whoami()
        return int(user.id), str(user.email or "")


def _task_payload(task: TaskToPush) -> dict[str, Any]:
    payload: dict[str, Any] = {"data": {"text": task.text, "item_id": task.item_id}}
    if task.context is not None:
        payload["data"]["context"] = task.context
    if task.prelabel is not None:
        payload["predictions"] = [
            {
                "model_version": task.prelabel.model_version,
                "score": float(task.prelabel.score),
                "result": choice_result(task.prelabel.label),
            }
        ]
    return payload


def _api_error(status_code: int | None, body: Any, action: str, url: str) -> LabelStudioError:
    detail = body.get("detail") if isinstance(body, dict) else body
    detail_text = str(detail)[:300] if detail is not None else ""
    if status_code in (401, 403):
        return LabelStudioAuthError(
            f"{action}: Label Studio at {url} refused the token (HTTP {status_code}: {detail_text}). Check the token; "
            "legacy tokens need LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN on the server's first boot."
        )
    if status_code is not None and status_code in (502, 503, 504):
        return LabelStudioUnavailable(f"{action}: Label Studio at {url} is unavailable (HTTP {status_code})")
    return LabelStudioRequestError(f"{action}: HTTP {status_code} from {url}: {detail_text}", status_code=status_code)


def connect(url: str, token: str, *, timeout_s: float = 60.0) -> LabelStudioClient:
    """A client for ``url`` acting as the token's user; checks the token with one request.

    Raises :class:`LabelStudioAuthError` for a wrong token and :class:`LabelStudioUnavailable` when nothing answers.
    Legacy 40-hex tokens and personal access tokens (JWT) both work (the SDK picks the scheme).
    """
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.core.api_error import ApiError

    if not token:
        raise LabelStudioAuthError(f"no API token given for Label Studio at {url}")
    url = url.rstrip("/")
    try:
        sdk = LabelStudio(base_url=url, api_key=token, timeout=timeout_s)
    except ApiError as exc:  # an expired personal access token is refused at construction
        raise _api_error(exc.status_code, exc.body, "connect", url) from None
    client = LabelStudioClient(url, sdk)
    user_id, _ = client.whoami()
    log.info("labelstudio.connect url=%s user_id=%s", url, user_id)
    return client
