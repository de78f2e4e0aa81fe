"""One writer at a time for the steps that read one table and write another.

Bronze and validation replace only their own ingest dates, so runs over different dates
write them side by side (Delta's optimistic commits keep them apart). Silver, gold and
features are different: each decides what to write from what other tables hold (which
copy of an event wins, which gold dates a change reaches), so two runs interleaving
there could each act on a state the other is about to change. Those steps (and
maintenance, and erasure's zero-retention VACUUM) take this lease first; a second run
waits for it, so concurrent runs give the result of running them one after the other.

The lease has a short lifetime (`LAKEHOUSE_LEASE_SECONDS`, default 60 s) that its holder
renews from a daemon heartbeat thread while the body runs, so a holder that dies anywhere
(SIGKILL, a lost cluster) is taken over within about one lifetime instead of hours:

* locally (any fsspec filesystem but ADLS) it is a small JSON file created atomically
  (O_EXCL) that names its holder and its expiry; the heartbeat rewrites it atomically
  (write beside, then rename over). A waiter takes it over when the holder is on this
  host and its process is gone, or when the file has not changed for one lifetime (by
  the waiter's own clock, so clock skew between hosts does not matter), or when its
  expiry is more than one lifetime in the past.
* on ADLS / Azurite it is a real blob lease (`BlobLeaseClient`, 15-60 s) on the same
  path; the storage service itself expires it when renewals stop. The blob's content
  names the holder for the waiters' log lines.

A holder whose renewals failed for longer than the lifetime may have been taken over; it
finds out at its next renewal and `exclusive` raises `LeaseLost` when its body ends.
A hold taken with `reentrant=True` is joined by the `exclusive` calls nested in it in the
same thread (an erasure or a whole run plan holds it around the pipeline's own silver,
gold and features steps); without it a nested call waits like any other run, as does
another thread of the same process.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import posixpath
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psutil
from fsspec.implementations.local import LocalFileSystem

from pipelines.config import UserError, settings
from pipelines.landing import filesystem, is_remote

log = logging.getLogger("lakehouse")

LOCK_DIR = "_internal/locks"
LEASE_SECONDS_ENV = "LAKEHOUSE_LEASE_SECONDS"
WAIT_SECONDS_ENV = "LAKEHOUSE_LOCK_WAIT_SECONDS"
HOLDER_HOST_ENV = "LAKEHOUSE_LEASE_HOLDER_HOST"  # tests simulate another host with it
# Their defaults (60 s, 3 h) are declared with the variables: pipelines.config.LeaseEnv.
# Records written before leases were renewed carry no lifetime: trusted this long.
LEGACY_LEASE_SECONDS = 6 * 3600.0
BLOB_LEASE_RANGE = (15, 60)  # what Azure Storage accepts for a finite blob lease
RENEWALS_PER_LIFETIME = 3
POLL_SECONDS = 1.0

_held = threading.local()  # per thread: lease key -> depth (re-entrancy)


class LeaseLost(UserError):
    """The lease expired while its holder still worked (renewals failed) and was taken."""


def lock_path(root: str, name: str) -> str:
    return posixpath.join(root.rstrip("/"), LOCK_DIR, f"{name}.lock")


def lease_lifetime(value: float | None = None) -> float:
    """The lease lifetime: `value`, else LAKEHOUSE_LEASE_SECONDS, else 60 s."""
    if value is None:
        value = settings().lease.lease_seconds
    if not value >= 1:
        raise UserError(f"the lease lifetime must be at least 1 second, got {value}")
    return float(value)


def wait_seconds_from_env() -> float:
    return settings().lease.lock_wait_seconds


def holder_host() -> str:
    return settings().lease.lease_holder_host or socket.gethostname()


@contextmanager
def exclusive(
    root: str,
    name: str = "publish",
    wait_seconds: float | None = None,
    lease_seconds: float | None = None,
    reentrant: bool = False,
) -> Iterator[None]:
    """Hold the lakehouse's `name` lease for the body; wait for it if another run has it.

    With `reentrant`, `exclusive` calls nested in the body (same thread, same lease) join
    this hold. Raises UserError when the wait exceeds `wait_seconds` (default
    LAKEHOUSE_LOCK_WAIT_SECONDS, 3 h), LeaseLost when the lease was taken over while the
    body ran. The lifetime is `lease_seconds`, else LAKEHOUSE_LEASE_SECONDS, else 60 s.
    """
    path = lock_path(root, name)
    key = _key(path)
    depths: dict[str, int] = _held.__dict__.setdefault("depths", {})
    if depths.get(key):  # only holds taken with reentrant=True are recorded here
        depths[key] += 1
        try:
            yield
        finally:
            depths[key] -= 1
        return

    seconds = lease_lifetime(lease_seconds)
    wait = wait_seconds_from_env() if wait_seconds is None else wait_seconds
    lease: _Lease = _BlobLease(path, seconds) if is_remote(path) else _FileLease(path, seconds)
    lease.acquire(name, time.monotonic() + wait)
    heartbeat = _Heartbeat(lease, name)
    if reentrant:
        depths[key] = 1
    try:
        yield
    finally:
        if reentrant:
            depths.pop(key, None)
        heartbeat.stop()
        lease.release()
    if heartbeat.lost:
        raise LeaseLost(
            f"the lakehouse's {name} lease was taken over while this run held it "
            f"(not renewed for {seconds:.0f} s); another run may have interleaved with it, "
            "re-run its dates"
        )


def _key(path: str) -> str:
    if is_remote(path):
        return path.rstrip("/")
    return os.path.abspath(path)


# --- the heartbeat ----------------------------------------------------------------------


class _Heartbeat:
    """Renews a lease every lifetime/3 from a daemon thread until stopped."""

    def __init__(self, lease: _Lease, name: str) -> None:
        self.lease = lease
        self.name = name
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = self.lease.renew_every
        last_ok = time.monotonic()
        while not self._stop.wait(interval):
            try:
                if not self.lease.renew():
                    self.lost = True
                    log.error("the %s lease was taken over by another run", self.name)
                    return
                last_ok = time.monotonic()
            except Exception as error:  # storage hiccup: try again at the next beat
                late = time.monotonic() - last_ok
                log.warning(
                    "could not renew the %s lease (%.0f s since the last renewal): %s",
                    self.name,
                    late,
                    error,
                )

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


# --- leases -----------------------------------------------------------------------------


class _Lease:
    seconds: float
    record: dict[str, Any]

    @property
    def renew_every(self) -> float:
        return self.seconds / RENEWALS_PER_LIFETIME

    def _new_record(self) -> dict[str, Any]:
        now = time.time()
        return {
            "run": uuid.uuid4().hex,
            "host": holder_host(),
            "pid": os.getpid(),
            "since": now,
            "seconds": self.seconds,
            "expires": now + self.seconds,
            "renewals": 0,
        }

    def acquire(self, name: str, deadline: float) -> None:
        announced = False
        while not self.try_acquire():
            current = self.current_holder()
            if time.monotonic() > deadline:
                raise UserError(f"another run still holds the lakehouse's {name} lease: {current}")
            if not announced:
                log.info("waiting for the %s lease held by %s", name, current)
                announced = True
            time.sleep(POLL_SECONDS)

    def try_acquire(self) -> bool:
        raise NotImplementedError

    def current_holder(self) -> dict | None:
        raise NotImplementedError

    def renew(self) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError


class _FileLease(_Lease):
    """A JSON file created with O_EXCL, rewritten atomically by the heartbeat."""

    def __init__(self, path: str, seconds: float) -> None:
        self.fs, self.path = filesystem(path)
        self.seconds = seconds
        self.record = self._new_record()
        self._seen: tuple[bytes, float] | None = None  # content, when it last changed

    def try_acquire(self) -> bool:
        if _try_create(self.fs, self.path, self.record):
            return True
        content = _read_bytes(self.fs, self.path)
        if content is None:
            return False  # released this instant: try again at once next poll
        now = time.monotonic()
        if self._seen is None or self._seen[0] != content:
            self._seen = (content, now)
        current = _parse(content)
        if _is_stale(current, unchanged_for=now - self._seen[1], fallback=self.seconds):
            log.warning("taking over the lease of a run that is gone: %s", current or content)
            _remove_if_holds(self.fs, self.path, content)
            self._seen = None
            return _try_create(self.fs, self.path, self.record)
        return False

    def current_holder(self) -> dict | None:
        content = _read_bytes(self.fs, self.path)
        return None if content is None else _parse(content)

    def renew(self) -> bool:
        current = self.current_holder()
        if not current or current.get("run") != self.record["run"]:
            return False
        self.record["expires"] = time.time() + self.seconds
        self.record["renewals"] += 1
        temporary = f"{self.path}.{self.record['run']}.tmp"
        self.fs.pipe_file(temporary, json.dumps(self.record).encode())
        if isinstance(self.fs, LocalFileSystem):
            os.replace(temporary, self.path)  # atomic: readers see the old or the new file
        else:
            self.fs.mv(temporary, self.path)
        return True

    def release(self) -> None:
        current = self.current_holder()
        if current is not None and current.get("run") == self.record["run"]:
            with suppress(FileNotFoundError):
                self.fs.rm_file(self.path)


def _try_create(fs: Any, path: str, holder: dict) -> bool:
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


def _read_bytes(fs: Any, path: str) -> bytes | None:
    try:
        return fs.cat_file(path)
    except FileNotFoundError:
        return None  # released between our attempt and this read


def _parse(content: bytes) -> dict:
    try:
        record = json.loads(content)
    except ValueError:
        return {}  # being written this instant, or garbage: judged by how long it stays
    return record if isinstance(record, dict) else {}


def _is_stale(holder: dict, unchanged_for: float, fallback: float) -> bool:
    """Whether a lease record's holder is gone (see the module docstring)."""
    seconds = float(holder.get("seconds", LEGACY_LEASE_SECONDS if holder else fallback))
    if unchanged_for > seconds:
        return True  # not renewed for a whole lifetime, by our own clock
    if not holder:
        return False
    expires = float(holder.get("expires", holder.get("since", 0) + seconds))
    if time.time() > expires + seconds:
        return True  # expired long ago, even allowing a lifetime of clock skew
    return holder.get("host") == holder_host() and not _process_alive(holder.get("pid"))


def _process_alive(pid: Any) -> bool:
    try:
        return psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, TypeError, ValueError):
        return False


def _remove_if_holds(fs: Any, path: str, content: bytes) -> None:
    """Delete the lease file if it still has exactly this content (the stale holder's)."""
    if _read_bytes(fs, path) == content:
        with suppress(FileNotFoundError):
            fs.rm_file(path)


# --- ADLS: a blob lease -----------------------------------------------------------------


class _BlobLease(_Lease):
    """A blob lease on `<root>/_internal/locks/<name>.lock`, expired by the service."""

    def __init__(self, url: str, seconds: float) -> None:
        low, high = BLOB_LEASE_RANGE
        self.seconds = float(min(max(round(seconds), low), high))
        self.record = self._new_record()
        self.blob = _blob_client(url)
        self._lease: Any = None

    def try_acquire(self) -> bool:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
        from azure.storage.blob import BlobLeaseClient

        lease = BlobLeaseClient(self.blob, lease_id=str(uuid.UUID(self.record["run"])))
        try:
            lease.acquire(lease_duration=int(self.seconds))
        except ResourceNotFoundError:
            self._create_blob()
            return False  # poll again (at once: the next attempt finds the blob)
        except HttpResponseError as error:
            if error.status_code != 409:
                raise
            self._break_if_dead_here()
            return False
        previous = self.current_holder()
        if previous and "seconds" not in previous and not _is_stale(previous, 0, self.seconds):
            # Written by a version without blob leases (an O_EXCL-style lock blob): respect it.
            lease.release()
            return False
        self._lease = lease
        self.blob.upload_blob(json.dumps(self.record).encode(), overwrite=True, lease=lease)
        return True

    def _create_blob(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with suppress(ResourceExistsError):
            self.blob.upload_blob(b"", overwrite=False)

    def _break_if_dead_here(self) -> None:
        """A holder on this host whose process is gone: no need to wait for the expiry."""
        from azure.storage.blob import BlobLeaseClient

        holder = self.current_holder() or {}
        if holder.get("host") == holder_host() and not _process_alive(holder.get("pid")):
            log.warning("breaking the lease of a run that is gone: %s", holder)
            with suppress(Exception):
                BlobLeaseClient(self.blob).break_lease(lease_break_period=0)

    def current_holder(self) -> dict | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _parse(self.blob.download_blob().readall())
        except ResourceNotFoundError:
            return None

    def renew(self) -> bool:
        from azure.core.exceptions import HttpResponseError

        try:
            self._lease.renew()
        except HttpResponseError as error:
            if error.status_code in (404, 409, 412):  # gone, or another lease id holds it
                return False
            raise
        return True

    def release(self) -> None:
        # Deleting the blob (with our lease) releases the lease and leaves no lock behind.
        try:
            self.blob.delete_blob(lease=self._lease)
        except Exception:
            with suppress(Exception):
                self._lease.release()


def _blob_client(url: str) -> Any:
    from azure.storage.blob import BlobServiceClient

    from pipelines.azure_storage import parse_adls_url

    location = parse_adls_url(url)
    azure = settings().azure
    if azure.connection_string:
        service = BlobServiceClient.from_connection_string(azure.connection_string)
    else:
        account = location.account or azure.azure_storage_account_name
        if not account:
            raise UserError(f"{url!r} names no storage account for the lakehouse lease")
        service = BlobServiceClient(
            f"https://{account}.blob.{location.endpoint_suffix}", credential=_credential()
        )
    return service.get_blob_client(location.container, location.path)


@functools.cache
def _credential() -> Any:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()
