"""One owner per persistent Chroma directory.

Two processes writing one persistent Chroma path corrupt it, so the owner holds an exclusive
`flock` on a lock file in the directory for as long as it runs; the file names the owner (pid and
command), and a second process gets an error saying who holds it. The kernel drops the lock when
the owner exits, however it exits.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

from knowledge.errors import IndexLockedError

LOCK_FILE = "coachbot.lock"


class DirectoryOwner:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / LOCK_FILE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 500).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise IndexLockedError(
                f"the vector index at {directory} is in use by {holder}. One process owns a "
                "local index: stop it first (e.g. `coachbot serve`), or run a Chroma server and "
                "point every process at it with COACHBOT_CHROMA_URL"
            ) from None
        os.ftruncate(fd, 0)
        command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
        os.write(fd, f"pid {os.getpid()} ({command[:200]})\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
