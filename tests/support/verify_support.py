"""Helpers for the `gpudoctor verify` tests: GPU-like device nodes and the verify JSON.

The nodes are real character devices made with mknod. They use major 1 (the kernel's memory
devices: 1:3 null, 1:5 zero, 1:7 full, 1:8 random, 1:9 urandom), so a container can really open
them read-write on a machine without a GPU, while their owner and mode are set like a GPU's
render node or /dev/kfd (root:render, 0660).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import jsonschema

from gpudoctor.verify import LABEL, VERIFY_SCHEMA
from tests.support.cli import Run
from tests.support.dockerd import Dockerd

#: Minors of major 1 that open read-write without side effects.
SAFE_MINORS = (3, 5, 7, 8, 9)


def make_node(path: Path, gid: int, mode: int = 0o660, minor: int = 3) -> Path:
    """mknod a character device owned by root:gid with exactly this mode (umask ignored)."""
    assert minor in SAFE_MINORS, minor
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    os.mknod(path, mode | stat.S_IFCHR, os.makedev(1, minor))
    os.chown(path, 0, gid)
    os.chmod(path, mode)
    assert stat.S_ISCHR(path.stat().st_mode)
    return path


def verify_doc(run: Run) -> dict[str, Any]:
    """The `gpudoctor verify --json` document of a run, validated against its schema."""
    doc = json.loads(run.stdout)
    jsonschema.validate(doc, VERIFY_SCHEMA)
    return doc


def items(doc: dict[str, Any], item_id: str, user: str | None = None) -> list[dict[str, Any]]:
    return [i for i in doc["items"] if i["id"] == item_id and (user is None or i["user"] == user)]


def verify_containers(d: Dockerd) -> list[str]:
    """Every container (running or not) that carries verify's label on this daemon."""
    out = d.docker("ps", "-a", "-q", "--filter", f"label={LABEL}").stdout
    return [line for line in out.splitlines() if line.strip()]


def env_for(d: Dockerd) -> dict[str, str]:
    """gpudoctor's environment for a test daemon: DOCKER_HOST only, like a person would set."""
    return {"DOCKER_HOST": d.host, "DOCKER_CONFIG": str(d.base / "cli-config")}
