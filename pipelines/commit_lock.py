"""One Delta committer at a time per table on a local file system, across processes.

Delta commits version N by checking that N's log file does not exist, then renaming its
own file into place. Object stores and ADLS Gen2 make that rename fail if N appeared
meanwhile; a local file system's rename replaces it, so two processes committing to one
table at the same moment can both "win" version N: one commit is lost, or its log file
ends up beside the other's checksum file and every later read fails with a
ChecksumException (Delta documents this: local file systems lack the mutual exclusion it
needs; within one JVM it serialises commits itself). Bronze, validation and the run
ledger are written by concurrent runs by design, so for a local table every write holds
an exclusive `flock` on `_commit.lock` in the table's folder (Spark, Delta and VACUUM
ignore names starting with "_"). The kernel drops the lock when its process dies, so a
killed run never leaves a table locked. Remote tables need no lock.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fsspec.implementations.local import LocalFileSystem

from pipelines.landing import filesystem

log = logging.getLogger("lakehouse")

LOCK_FILE = "_commit.lock"

_held = threading.local()  # per thread: the local table folders whose lock it holds
_cannot_lock: set[str] = set()  # folders already warned about (one warning each)


def local_folder(path: str) -> str | None:
    """The table's folder on this machine's file system; None for a remote table."""
    fs, inner = filesystem(path)
    return os.path.abspath(inner) if isinstance(fs, LocalFileSystem) else None


@contextmanager
def one_committer(path: str) -> Iterator[None]:
    """Hold the table's commit lock (local tables only) while the body writes to it.

    Re-entrant within a thread; another thread or process waits. A file system without
    `flock` support (some network mounts) is written to unlocked, with a warning.
    """
    folder = local_folder(path)
    held: set[str] = _held.__dict__.setdefault("folders", set())
    if folder is None or folder in held:
        yield
        return
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, LOCK_FILE), "a") as handle:
        if not _lock(handle.fileno(), folder):
            yield
            return
        held.add(folder)
        try:
            yield
        finally:
            held.discard(folder)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _lock(descriptor: int, folder: str) -> bool:
    """Take the lock, waiting for its holder; False if this file system cannot lock."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        pass
    except OSError as error:
        if folder not in _cannot_lock:
            _cannot_lock.add(folder)
            log.warning("cannot lock %s for commits (%s); writing without it", folder, error)
        return False
    started = time.monotonic()
    log.info("waiting for another writer of %s to commit", folder)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    log.info("waited %.1f s for %s", time.monotonic() - started, folder)
    return True
