"""Fail early, with one clear line, when the lakehouse location cannot be written."""

from __future__ import annotations

import posixpath
import uuid

from pipelines.config import UserError
from pipelines.landing import filesystem


def ensure_writable(root: str) -> None:
    """Create the lakehouse root if needed and prove a file can be written there."""
    try:
        fs, path = filesystem(root)
        fs.makedirs(path, exist_ok=True)
        probe = posixpath.join(path, f".write-probe-{uuid.uuid4().hex}")
        with fs.open(probe, "wb") as handle:
            handle.write(b"ok")
        fs.rm(probe)
    except UserError:
        raise
    except (OSError, PermissionError) as error:
        raise UserError(f"lakehouse location is not writable: {root} ({error})") from None
