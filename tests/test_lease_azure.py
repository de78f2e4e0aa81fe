"""The lease on ADLS is a real blob lease (pipelines/locks.py), tried against Azurite: a
live holder's heartbeat renews it past its lifetime; when the holder is SIGKILLed on
another host the storage service expires it and a waiting run takes it over."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient
from azurite import azurite_binary, running_azurite
from test_lease import OTHER_HOST, start_holder

from pipelines.config import UserError
from pipelines.locks import BLOB_LEASE_RANGE, HOLDER_HOST_ENV, LEASE_SECONDS_ENV, exclusive

pytestmark = pytest.mark.slow

LIFETIME = BLOB_LEASE_RANGE[0]  # 15 s, the shortest lease Azure Storage grants
BLOB = "lakehouse/_internal/locks/publish.lock"


@pytest.fixture(scope="module")
def azurite_cs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if azurite_binary() is None:
        pytest.skip("Azurite not installed (run: bash scripts/setup.sh --test)")
    with running_azurite(tmp_path_factory.mktemp("azurite")) as cs:
        yield cs


@pytest.fixture
def container(azurite_cs: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_cs)
    name = f"t{uuid.uuid4().hex[:12]}"
    BlobServiceClient.from_connection_string(azurite_cs).create_container(name)
    return name


def test_a_dead_holders_blob_lease_expires_and_is_taken_over(
    container: str, azurite_cs: str, tmp_path: Path
) -> None:
    root = f"abfs://{container}/lakehouse"
    blob = BlobServiceClient.from_connection_string(azurite_cs).get_blob_client(container, BLOB)
    holder = start_holder(
        root,
        AZURE_STORAGE_CONNECTION_STRING=azurite_cs,
        **{HOLDER_HOST_ENV: OTHER_HOST, LEASE_SECONDS_ENV: str(LIFETIME)},
    )
    try:
        lease = blob.get_blob_properties().lease
        assert (lease.state, lease.duration) == ("leased", "fixed")
        assert json.loads(blob.download_blob().readall())["host"] == OTHER_HOST
        time.sleep(LIFETIME + 2)  # past one lifetime: only the heartbeat's renewals keep it
        with pytest.raises(UserError, match=OTHER_HOST), exclusive(root, wait_seconds=1):
            pass
    finally:
        holder.kill()  # SIGKILL: no release, no cleanup
        holder.wait()
    assert blob.get_blob_properties().lease.state == "leased"  # until the service expires it

    with exclusive(root, wait_seconds=4 * LIFETIME):
        mine = json.loads(blob.download_blob().readall())
        assert mine["host"] != OTHER_HOST
        assert BLOB_LEASE_RANGE[0] <= mine["seconds"] <= BLOB_LEASE_RANGE[1]
        assert blob.get_blob_properties().lease.state == "leased"
    assert not blob.exists()  # released: the lock blob is gone, nothing left behind
