"""A minimal Docker Engine API client: one GET over a Unix or TCP socket, with a timeout.

It speaks HTTP/1.0 by hand so that `gpudoctor --json` does not import http.client or
requests just to ask the daemon for /info. Measured for issue 11 (2-core VM, `python -X
importtime`, with gpudoctor's --json modules already loaded): importing http.client alone
(it imports the email package to parse headers) cost 51-103 ms
cumulative, about as much as the interpreter's whole start (60-75 ms in the same runs) and
more than the 5x budget leaves. An AF_UNIX http.client connection would not keep --json
within its budget, so this stays.
"""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import DockerUnavailable

if TYPE_CHECKING:
    from typing import Any

DEFAULT_ENDPOINT = "unix:///var/run/docker.sock"
MAX_BODY = 32 * 1024 * 1024


def _connect(endpoint: str, timeout: float) -> socket.socket:
    parts = urlsplit(endpoint)
    if parts.scheme == "unix":
        path = parts.path or "/var/run/docker.sock"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except FileNotFoundError as exc:
            sock.close()
            raise DockerUnavailable(f"no Docker socket at {path} (is the daemon running?)") from exc
        except PermissionError as exc:
            sock.close()
            raise DockerUnavailable(
                f"permission denied while connecting to {path} "
                "(the person is not in the socket's group, usually `docker`)"
            ) from exc
        except ConnectionRefusedError as exc:
            sock.close()
            raise DockerUnavailable(
                f"connection refused on {path}: the socket exists but no daemon listens on it"
            ) from exc
        except TimeoutError as exc:
            sock.close()
            raise DockerUnavailable(
                f"the daemon at {path} did not accept within {timeout:g} s") from exc
        except OSError as exc:
            sock.close()
            raise DockerUnavailable(f"cannot connect to {path}: {exc.strerror or exc}") from exc
        return sock
    if parts.scheme in ("tcp", "http"):
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 2375
        try:
            return socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise DockerUnavailable(f"cannot connect to {endpoint}: {exc.strerror or exc}") from exc
    raise DockerUnavailable(
        f"endpoint {endpoint} uses {parts.scheme or 'no'} transport, which gpudoctor cannot "
        "query directly (only unix:// and plain tcp://)"
    )


def _remaining(deadline: float, timeout: float, where: str) -> float:
    """Seconds left before the request's total deadline; DockerUnavailable once it passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise DockerUnavailable(f"the daemon at {where} did not answer within {timeout:g} s")
    return left


def _read_all(sock: socket.socket, deadline: float, timeout: float, where: str) -> bytes:
    """Read to the end of the answer, within the request's TOTAL deadline.

    A per-read timeout alone lets a peer that sends one byte every few seconds keep gpudoctor
    reading forever; every recv here gets only what is left of the whole request's time.
    """
    chunks: list[bytes] = []
    total = 0
    while True:
        sock.settimeout(_remaining(deadline, timeout, where))
        try:
            data = sock.recv(65536)
        except TimeoutError as exc:
            raise DockerUnavailable(
                f"the daemon at {where} did not answer within {timeout:g} s") from exc
        except OSError as exc:
            raise DockerUnavailable(f"reading from {where} failed: {exc.strerror or exc}") from exc
        if not data:
            break
        chunks.append(data)
        total += len(data)
        if total > MAX_BODY:
            raise DockerUnavailable(f"the answer from {where} is larger than {MAX_BODY} bytes")
    return b"".join(chunks)


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    rest = body
    while rest:
        line, _, rest = rest.partition(b"\r\n")
        size = int(line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        rest = rest[size + 2 :]
    return bytes(out)


def request(endpoint: str, method: str, path: str, timeout: float = 5.0,
            body: bytes | None = None) -> tuple[int, bytes]:
    """Send one request and return (status, body) within `timeout` seconds in all.

    Raises DockerUnavailable.
    """
    deadline = time.monotonic() + timeout
    sock = _connect(endpoint, timeout)
    try:
        head = [f"{method} {path} HTTP/1.0", "Host: docker", "User-Agent: gpudoctor"]
        if body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        payload = ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")
        try:
            sock.settimeout(_remaining(deadline, timeout, endpoint))
            sock.sendall(payload)
        except TimeoutError as exc:
            raise DockerUnavailable(
                f"the daemon at {endpoint} did not take the request within {timeout:g} s") from exc
        except OSError as exc:
            raise DockerUnavailable(f"sending to {endpoint} failed: {exc.strerror or exc}") from exc
        raw = _read_all(sock, deadline, timeout, endpoint)
    finally:
        sock.close()
    header, sep, content = raw.partition(b"\r\n\r\n")
    if not sep:
        raise DockerUnavailable(f"{endpoint} did not answer with HTTP (is it a Docker socket?)")
    lines = header.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError) as exc:
        raise DockerUnavailable(f"{endpoint} sent a malformed status line: {lines[0]!r}") from exc
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        content = _dechunk(content)
    return status, content


def get_json(endpoint: str, path: str, timeout: float = 5.0) -> Any:
    """GET an API path and decode its JSON body; non-2xx answers raise DockerUnavailable."""
    status, content = request(endpoint, "GET", path, timeout)
    if status // 100 != 2:
        message = content.decode("utf-8", "replace").strip()
        try:
            message = json.loads(message).get("message", message)
        except (ValueError, AttributeError):
            pass
        raise DockerUnavailable(f"the daemon answered {status} to GET {path}: {message}")
    try:
        return json.loads(content)
    except ValueError as exc:
        raise DockerUnavailable(f"the daemon's answer to GET {path} is not JSON") from exc
