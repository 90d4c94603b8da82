"""JSON Lines reader: one JSON object per line; a line that does not parse is quarantined, not fatal."""

from __future__ import annotations

import json
from collections.abc import Iterator

from labelloop.connectors.sources.base import FileReader, RawRow, RowProblem


class JsonlReader(FileReader):
    format = "jsonl"

    def chunks(self, chunk_rows: int) -> Iterator[list[RawRow]]:
        self._require_file()
        chunk: list[RawRow] = []
        with self.path.open("rb") as fh:
            for line_no, raw in enumerate(fh, start=1):
                self._bytes += len(raw)
                if not raw.strip():
                    continue  # blank line: not a row
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as err:
                    shown = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                    detail = f"invalid UTF-8 byte 0x{raw[err.start]:02x} at byte {err.start} of line"
                    chunk.append(RawRow(line_no, None, shown, RowProblem("invalid_utf8", detail)))
                else:
                    text = text.rstrip("\r\n")
                    try:
                        obj = json.loads(text)
                    except json.JSONDecodeError as err:
                        problem = RowProblem("invalid_json", f"{err.msg} at column {err.colno}")
                        chunk.append(RawRow(line_no, None, text, problem))
                    else:
                        if isinstance(obj, dict):
                            chunk.append(RawRow(line_no, obj, text))
                        else:
                            problem = RowProblem("invalid_json", f"expected a JSON object, got {type(obj).__name__}")
                            chunk.append(RawRow(line_no, None, text, problem))
                if len(chunk) >= chunk_rows:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk
