"""Writing the export ZIP: one entry at a time, rows streamed into it, so memory stays flat however
long a person's history is (the ZIP itself goes to a temporary file, then to blob storage)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any
from uuid import UUID

from core.text import csv_text

Row = Mapping[str, Any]


def plain(value: Any) -> Any:
    """A JSON-ready copy: ids and dates as text (dates in UTC ISO 8601), enums by value."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, Mapping):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return value


def csv_cell(value: Any) -> str:
    """Text for one CSV cell; never a formula (a spreadsheet runs cells starting with = + - @)."""
    value = plain(value)
    if value is None:
        return ""
    text = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return csv_text(text) if isinstance(value, str) else text


async def _each(rows: AsyncIterable[Row] | Iterable[Row]) -> AsyncIterable[Row]:
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row


class ArchiveWriter:
    """A ZIP being written to `path`. Entries are written one after the other (a ZIP can have only one
    open entry); each row is encoded and written as it comes."""

    def __init__(self, path: Path) -> None:
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        self.entries: dict[str, int] = {}  # name → rows written (1 for a document)

    def close(self) -> None:
        self.zip.close()

    def text(self, name: str, content: str) -> None:
        self.zip.writestr(name, content.encode())
        self.entries[name] = 1

    def document(self, name: str, value: Any) -> None:
        self.text(name, json.dumps(plain(value), indent=2, ensure_ascii=False) + "\n")

    async def json_rows(self, name: str, rows: AsyncIterable[Row] | Iterable[Row]) -> int:
        """A JSON array written a row at a time; returns the number of rows."""
        count = 0
        with self.zip.open(name, "w", force_zip64=True) as raw:
            raw.write(b"[")
            async for row in _each(rows):
                raw.write((b",\n  " if count else b"\n  ") + json.dumps(plain(row), ensure_ascii=False).encode())
                count += 1
            raw.write(b"\n]\n" if count else b"]\n")
        self.entries[name] = count
        return count

    async def csv_rows(self, name: str, columns: Sequence[str], rows: AsyncIterable[Row] | Iterable[Row]) -> int:
        """A CSV file (UTF-8, a header line, CRLF line ends) written a row at a time."""
        count = 0
        with self.zip.open(name, "w", force_zip64=True) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            writer = csv.writer(text, lineterminator="\r\n")
            writer.writerow(columns)
            async for row in _each(rows):
                writer.writerow([csv_cell(row.get(column)) for column in columns])
                count += 1
            text.flush()
            text.detach()
        self.entries[name] = count
        return count
