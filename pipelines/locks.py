"""One writer at a time for the steps that read one table and write another.

Bronze and validation replace only their own ingest dates, so runs over different dates
write them side by side (Delta's optimistic commits keep them apart). Silver, gold and
features are different: each decides what to write from what other tables hold (which
copy of an event wins, which gold dates a change reaches), so two runs interleaving
there could each act on a state the other is about to change. Those steps take this
lease first; a second run waits for it, so concurrent runs give the result of running
them one after the other.

The lease is a small file created atomically (exclusive create: O_EXCL locally, a blob
upload with overwrite=False on ADLS). It names its holder; a holder that died (same host,
process gone) or whose lease is older than LEASE_SECONDS is taken over.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psutil

from pipelines.config import UserError
from pipelines.landing import filesystem

log = logging.getLogger("lakehouse")

LOCK_DIR = "_internal/locks"
LEASE_SECONDS = 6 * 3600  # longer than any run; only a holder on another host needs it
WAIT_SECONDS = float(os.environ.get("LAKEHOUSE_LOCK_WAIT_SECONDS", 3 * 3600))
POLL_SECONDS = 1.0


def lock_path(root: str, name: str) -> str:
    return posixpath.join(root.rstrip("/"), LOCK_DIR, f"{name}.lock")


@contextmanager
def exclusive(
    root: str, name: str = "publish", wait_seconds: float | None = None
) -> Iterator[None]:
    """Hold the lakehouse's `name` lease for the body; wait for it if another run has it."""
    fs, path = filesystem(lock_path(root, name))
    holder = {
        "run": uuid.uuid4().hex,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": time.time(),
    }
    deadline = time.monotonic() + (WAIT_SECONDS if wait_seconds is None else wait_seconds)
    announced = False
    while not _try_create(fs, path, holder):
        current = _read(fs, path)
        if current is not None and _is_stale(current):
            log.warning("taking over the %s lease of a run that is gone: %s", name, current)
            _remove_if_held_by(fs, path, current)
            continue
        if time.monotonic() > deadline:
            raise UserError(f"another run still holds the lakehouse's {name} lease: {current}")
        if not announced:
            log.info("waiting for the %s lease held by %s", name, current)
            announced = True
        time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        _remove_if_held_by(fs, path, holder)


def _try_create(fs, path: str, holder: dict) -> bool:
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    try:
        with fs.open(path, "xb") as handle:
            handle.write(json.dumps(holder).encode())
        return True
    except FileExistsError:
        return False
    except Exception as error:  # adlfs raises the SDK's ResourceExistsError
        if type(error).__name__ == "ResourceExistsError":
            return False
        raise


def _read(fs, path: str) -> dict | None:
    try:
        return json.loads(fs.cat_file(path))
    except FileNotFoundError:
        return None  # released between our attempt and this read
    except ValueError:
        return {}  # being written this instant, or garbage: judged by age below


def _is_stale(holder: dict) -> bool:
    if not holder:
        return False
    if time.time() - holder.get("since", 0) > LEASE_SECONDS:
        return True
    if holder.get("host") != socket.gethostname():
        return False
    try:
        process = psutil.Process(holder["pid"])
        return process.status() == psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, KeyError):
        return True


def _remove_if_held_by(fs, path: str, holder: dict) -> None:
    current = _read(fs, path)
    if current is not None and current.get("run") == holder.get("run"):
        with suppress(FileNotFoundError):
            fs.rm_file(path)
