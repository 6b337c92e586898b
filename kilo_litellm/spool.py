"""A local append-only spool of usage events, so none is lost while the dashboard cannot
take it (a restart, the network).

Every event is appended as one JSON line to `usage.jsonl` before anything is sent; the
sender reads from the acknowledged offset (`usage.sent`), posts a batch and moves the
offset only after the dashboard answered which events it stored and which it already had
(ids make a resend harmless). When everything written has been acknowledged the file is
truncated. Events the dashboard refuses as invalid (they would block the spool forever)
move to `usage.rejected.jsonl` with the dashboard's message.

Several proxy workers may share a spool directory: appends and acknowledgements take an
exclusive `flock` on `spool.lock`, and only the worker holding `sender.lock` sends.
Appends are written to the OS (they survive the proxy process dying), not fsynced per
event: a power loss of the proxy host can lose the last events the OS had not written.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAX_LINE = 16_384  # bytes of one event: longer lines are moved to the rejected file


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.events = self.directory / "usage.jsonl"
        self.sent = self.directory / "usage.sent"
        self.rejected = self.directory / "usage.rejected.jsonl"
        self._lock_path = self.directory / "spool.lock"
        self._sender_fd: int | None = None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def append(self, event: dict[str, Any]) -> None:
        line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
        with self._locked():
            fd = os.open(self.events, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def _offset(self) -> int:
        try:
            return int(self.sent.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def pending(self, limit: int) -> tuple[list[dict[str, Any]], list[str], int]:
        """Up to `limit` unsent events, the lines that are not events, and the offset just
        after the last line read."""
        events: list[dict[str, Any]] = []
        bad: list[str] = []
        with self._locked():
            offset = self._offset()
            try:
                with self.events.open("rb") as f:
                    f.seek(offset)
                    while len(events) < limit:
                        line = f.readline()
                        if not line.endswith(b"\n"):  # nothing more (or a line being written)
                            break
                        offset += len(line)
                        try:
                            if len(line) > MAX_LINE:
                                raise ValueError("line too long")
                            event = json.loads(line)
                            if not isinstance(event, dict):
                                raise ValueError("not an object")
                            events.append(event)
                        except ValueError:
                            bad.append(line.decode(errors="replace")[:2000])
            except FileNotFoundError:
                pass
        return events, bad, offset

    def acknowledge(self, offset: int) -> None:
        """Everything before `offset` reached the dashboard (or was rejected)."""
        with self._locked():
            size = self.events.stat().st_size if self.events.exists() else 0
            if offset >= size:  # all sent: start the file again
                if size:
                    os.truncate(self.events, 0)
                offset = 0
            tmp = self.sent.with_suffix(".tmp")
            tmp.write_text(str(offset))
            os.replace(tmp, self.sent)

    def reject(self, items: list[tuple[Any, str]]) -> None:
        """Keep events the dashboard refused, with its message, for an operator to look at."""
        with self._locked(), self.rejected.open("a", encoding="utf-8") as f:
            for event, message in items:
                f.write(json.dumps({"event": event, "error": message}) + "\n")

    def backlog(self) -> int:
        """Bytes written but not yet acknowledged."""
        with self._locked():
            size = self.events.stat().st_size if self.events.exists() else 0
            return max(0, size - self._offset())

    def claim_sender(self) -> bool:
        """Become this spool's one sender (non-blocking); True if this process is it."""
        if self._sender_fd is not None:
            return True
        fd = os.open(self.directory / "sender.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._sender_fd = fd
        return True
