"""How much a snapshot holds at most (host-root.md), and which environment values it keeps."""

from __future__ import annotations

from gpudoctor.host.base import MAX_READ

#: No file in a snapshot is larger than this (host-root.md).
MAX_FILE = MAX_READ
#: All file content together; far below what archive.unpack accepts.
MAX_TOTAL = 256 * 1024 * 1024
#: Members in one archive; far below archive.MAX_MEMBERS.
MAX_MEMBERS = 40_000
#: Entries kept of one listed folder.
MAX_LISTING = 10_000
MAX_LINKS = 40
HOST_JSON = ".gpudoctor/host.json"

#: Environment variables whose values the diagnosis depends on and that name paths or the
#: daemon's endpoint, not secrets (credentials and hostnames inside them are still redacted).
#: Every other variable's value is replaced.
KEPT_ENV = frozenset({"PATH", "HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "DOCKER_HOST",
                      "DOCKER_CONTEXT", "DOCKER_CONFIG"})
