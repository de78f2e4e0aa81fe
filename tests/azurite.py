"""Run Azurite (the Azure Storage emulator, Blob API only) for a test session.

The emulator's account key is made up for each run (`AZURITE_ACCOUNTS`), so no key,
not even the public emulator one, lives in the repository or its config. With
`oauth=True` it serves HTTPS (a throw-away self-signed certificate) and also accepts
bearer tokens, checking their audience, issuer and expiry but not their signature.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ports import free_port

ROOT = Path(__file__).resolve().parents[1]
AZURITE_BIN = ROOT / ".tools" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
START_TIMEOUT_S = 30.0


def azurite_binary() -> Path | None:
    """The azurite-blob launcher (scripts/setup.sh --test installs it), None when absent."""
    return AZURITE_BIN if os.access(AZURITE_BIN, os.X_OK) else None


def connection_string(port: int, key: str, scheme: str = "http") -> str:
    return (
        f"DefaultEndpointsProtocol={scheme};AccountName={ACCOUNT};AccountKey={key};"
        f"BlobEndpoint={scheme}://127.0.0.1:{port}/{ACCOUNT};"
    )


def emulator_token(lifetime_s: int = 3600) -> str:
    """An unsigned Entra-style access token for Storage, as `--oauth basic` accepts."""
    now = int(time.time())
    claims = {
        "aud": "https://storage.azure.com",
        "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
        "nbf": now - 60,
        "iat": now - 60,
        "exp": now + lifetime_s,
    }

    def b64(part: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(claims)}.c2ln"


@contextmanager
def running_azurite(location: Path, oauth: bool = False) -> Iterator[str]:
    """Start azurite-blob on a free port; yield its connection string; stop it after.

    With `oauth`, the server certificate is `location / "cert.pem"`.
    """
    binary = azurite_binary()
    if binary is None:
        raise FileNotFoundError(f"azurite-blob not found at {AZURITE_BIN}")
    key = base64.b64encode(os.urandom(64)).decode()
    location.mkdir(parents=True, exist_ok=True)
    extra = _tls_args(location) if oauth else []
    scheme = "https" if oauth else "http"
    for attempt in range(3):  # a free port can be taken between probing and binding
        port = free_port()
        log_path = location / f"azurite-{attempt}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [
                    str(binary),
                    *("--blobHost", "127.0.0.1", "--blobPort", str(port)),
                    *("--location", str(location / "data")),
                    *("--skipApiVersionCheck", "--loose", "--disableTelemetry"),
                    *extra,
                ],
                env={**os.environ, "AZURITE_ACCOUNTS": f"{ACCOUNT}:{key}"},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: node's children stop with it
            )
        try:
            if _wait_until_answering(proc, f"{scheme}://127.0.0.1:{port}", location):
                yield connection_string(port, key, scheme)
                return
        finally:
            _stop(proc)
    raise RuntimeError(f"Azurite did not start; last log:\n{log_path.read_text()[-2000:]}")


def _tls_args(location: Path) -> list[str]:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("openssl is needed for Azurite's HTTPS (OAuth) mode")
    cert, key = location / "cert.pem", location / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return ["--cert", str(cert), "--key", str(key), "--oauth", "basic"]


def _wait_until_answering(proc: subprocess.Popen, endpoint: str, location: Path) -> bool:
    """True once Azurite answers HTTP (any status); False if it exits first."""
    cert = location / "cert.pem"
    context = ssl.create_default_context(cafile=cert) if endpoint.startswith("https") else None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            urllib.request.urlopen(f"{endpoint}/{ACCOUNT}?comp=list", timeout=2, context=context)
            return True
        except urllib.error.HTTPError:
            return True  # 403 without a signature: it is up
        except OSError:
            time.sleep(0.2)
    return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # pid == pgid (start_new_session)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass
