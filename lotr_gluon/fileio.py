"""Writes that survive a stop: a file replaced atomically (a reader sees the old file or the
new one, never half of one), and JSON Lines appended a record at a time (a run stopped while
writing one leaves a torn last line, which is read as absent and cut off before appending).
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import IO, Iterator, List


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the final file the usual mode
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def read_json_lines(path: str) -> List[dict]:
    """The records of a JSON Lines file in order, none when it does not exist; a line that is
    not JSON (the torn end of a run stopped while writing it) is left out."""
    records: List[dict] = []
    if not os.path.isfile(path):
        return records
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def _end_of_last_line(f: IO[bytes], size: int, chunk: int = 1 << 16) -> int:
    """The offset just after the last newline of the open file ``f`` (0 when it has none)."""
    pos = size
    while pos > 0:
        start = max(0, pos - chunk)
        f.seek(start)
        found = f.read(pos - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        pos = start
    return 0


def append_json_lines(path: str) -> IO[str]:
    """``path`` opened to append JSON lines, created with its folder if need be.

    A torn last line (a run stopped while writing it) is cut off first, so the next record
    starts a line of its own; a last record that only lacks its newline gets one. Write each
    record as ``json.dumps(record) + "\\n"`` and flush it: a process killed after the flush
    keeps it.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if os.path.isfile(path):
        with open(path, "rb+") as f:
            size = f.seek(0, os.SEEK_END)
            end = _end_of_last_line(f, size)
            if end < size:
                f.seek(end)
                try:
                    json.loads(f.read())
                    f.write(b"\n")
                except ValueError:  # torn (JSONDecodeError) or not even text
                    f.truncate(end)
    return open(path, "a", encoding="utf-8")
