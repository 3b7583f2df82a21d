"""Which endpoint the person's `docker` talks to: DOCKER_HOST, the current context, the default."""

from __future__ import annotations

import json

from gpudoctor.errors import HostError
from gpudoctor.facts.docker.names import DEFAULT_SOCKET
from gpudoctor.host.base import Host


def _context_endpoint(host: Host) -> tuple[str, str] | None:
    """The current docker context's endpoint, from ~/.docker (DOCKER_CONTEXT wins)."""
    user = host.user()
    home = host.getenv("HOME") or (user.home if user else None)
    config_dir = host.getenv("DOCKER_CONFIG") or (f"{home}/.docker" if home else None)
    if not config_dir:
        return None
    name = host.getenv("DOCKER_CONTEXT")
    if not name:
        try:
            raw = host.read_optional(f"{config_dir}/config.json", 1024 * 1024)
            name = json.loads(raw).get("currentContext") if raw else None
        except (HostError, ValueError, AttributeError):
            name = None
    if not name or name == "default":
        return None
    import hashlib  # only when a context other than `default` is in use

    meta = f"{config_dir}/contexts/meta/{hashlib.sha256(name.encode()).hexdigest()}/meta.json"
    try:
        raw = host.read_optional(meta, 1024 * 1024)
        doc = json.loads(raw) if raw else None
        endpoint = doc["Endpoints"]["docker"]["Host"] if doc else None
    except (HostError, ValueError, KeyError, TypeError):
        endpoint = None
    if not endpoint:
        return None
    return endpoint, f"the docker context `{name}`"


def scheme_of(endpoint: str) -> str:
    """`unix`, `tcp`, `ssh`, ... ("" for a bare path), as the docker CLI reads DOCKER_HOST."""
    scheme, sep, _ = endpoint.partition("://")
    return scheme.lower() if sep else ""


def unix_socket_of(endpoint: str) -> str | None:
    """The socket path of a `unix://` endpoint (everything after the scheme, as dockerd and the
    docker CLI take it; `unix://` alone is the default socket), else None."""
    if scheme_of(endpoint) != "unix":
        return None
    return endpoint.partition("://")[2] or DEFAULT_SOCKET


def choose_endpoint(host: Host) -> tuple[str, str]:
    """(endpoint, where it came from), the way the docker CLI chooses."""
    env = host.getenv("DOCKER_HOST")
    if env:
        return env, "DOCKER_HOST"
    ctx = _context_endpoint(host)
    if ctx:
        return ctx
    return f"unix://{DEFAULT_SOCKET}", "the default socket"
