"""The landing zone (§1): which ingest dates and files exist, local or on ADLS Gen2.

Python-side storage goes through fsspec, so the same code lists a local folder and an
`abfss://` container (adlfs). Spark reads the files it is given; it never lists.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import fsspec
from fsspec import AbstractFileSystem

from pipelines import azure_storage
from pipelines.config import UserError

INGEST_DIR = re.compile(r"^ingest_date=(\d{4}-\d{2}-\d{2})$")
REMOTE_SCHEMES = ("abfs://", "abfss://", "az://")


@dataclass(frozen=True, order=True)
class LandingFile:
    path: str  # as Spark should read it (local path or abfss:// URI)
    size: int


def is_landing_file(name: str) -> bool:
    """True for `*.jsonl` / `*.jsonl.gz`; `_SUCCESS`, `*.tmp` and dot-files are ignored."""
    if name.startswith((".", "_")):
        return False
    return name.endswith(".jsonl") or name.endswith(".jsonl.gz")


def is_remote(url: str) -> bool:
    return url.startswith(REMOTE_SCHEMES)


def filesystem(url: str) -> tuple[AbstractFileSystem, str]:
    """The fsspec filesystem for a landing or lakehouse URL, and the path inside it."""
    if is_remote(url):
        fs, path = fsspec.core.url_to_fs(url, **azure_storage.adls_storage_options(url))
        # fsspec hands out one cached instance whose listings adlfs caches too; files that
        # other writers add (late landing files, Spark's Delta logs) must not be missed.
        fs.invalidate_cache()
        return fs, path
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"not a valid date (expected YYYY-MM-DD): {text!r}") from None


def _full_url(url: str, path: str) -> str:
    if not is_remote(url):
        return path
    # Keep the URL's own scheme and authority (`container@account.dfs.core.windows.net`):
    # fsspec paths are `container/key` and drop the account, which Spark's abfss:// needs.
    scheme, rest = url.split("://", 1)
    authority = rest.split("/", 1)[0]
    key = path.split("/", 1)[1] if "/" in path else ""
    return f"{scheme}://{authority}/{key}"


def list_ingest_dates(landing: str) -> list[date]:
    """Every `ingest_date=YYYY-MM-DD` folder under the landing zone, sorted."""
    fs, root = filesystem(landing)
    if not fs.exists(root) or not fs.isdir(root):
        raise UserError(f"landing zone not found: {landing}")
    dates = []
    for entry in fs.ls(root, detail=True):
        match = INGEST_DIR.match(posixpath.basename(entry["name"].rstrip("/")))
        if match and entry["type"] == "directory":
            dates.append(parse_date(match.group(1)))
    return sorted(dates)


def list_landing_files(landing: str, ingest_date: date) -> list[LandingFile]:
    """The record files of one ingest date (ignored names left out), sorted by path."""
    fs, root = filesystem(landing)
    folder = posixpath.join(root, f"ingest_date={ingest_date.isoformat()}")
    if not fs.exists(folder):
        return []
    files = []
    for entry in fs.ls(folder, detail=True):
        name = posixpath.basename(entry["name"])
        if entry["type"] == "file" and is_landing_file(name):
            files.append(LandingFile(_full_url(landing, entry["name"]), int(entry["size"])))
    return sorted(files)


def fingerprint(files: list[LandingFile]) -> str:
    """A stable summary of a date's files; it changes when a file arrives or is rewritten."""
    return ";".join(f"{posixpath.basename(f.path)}:{f.size}" for f in sorted(files))


def unreadable_files(files: list[LandingFile]) -> list[str]:
    """The gzip files among these that are truncated or corrupt (checked by decompressing).

    Spark would fail the whole job on them; checking first lets the other dates complete
    and names the file instead of a stack trace.
    """
    import gzip
    import zlib

    bad = []
    for landing_file in files:
        if not landing_file.path.endswith(".gz"):
            continue
        fs, path = filesystem(landing_file.path)
        try:
            with fs.open(path, "rb") as raw, gzip.GzipFile(fileobj=raw) as stream:
                while stream.read(1 << 20):
                    pass
        except (EOFError, OSError, zlib.error):
            bad.append(landing_file.path)
    return bad


# --- Uploading a local landing zone ---------------------------------------------------------


def ensure_container(url: str) -> None:
    """Create the URL's container if it does not exist yet."""
    fs, _ = filesystem(url)
    container = azure_storage.parse_adls_url(url).container
    if not fs.exists(container):
        fs.mkdir(container)


def upload_folder(local: str | Path, url: str) -> list[str]:
    """Copy every file under `local` to the same relative path under `url`; return the URLs.

    Each blob becomes visible only once fully written, so readers never see half a file.
    """
    root = Path(local)
    if not root.is_dir():
        raise UserError(f"not a folder: {root}")
    ensure_container(url)
    fs, base = filesystem(url)
    uploaded = []
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = file.relative_to(root).as_posix()
        fs.put_file(str(file), posixpath.join(base, relative))
        uploaded.append(f"{url.rstrip('/')}/{relative}")
    return uploaded
