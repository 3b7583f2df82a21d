"""The versions a run saw (kernel driver, container toolkit, Docker), for fleets and monitoring.

Fleet summaries show how versions spread over hosts and Prometheus carries them as an info
metric, so the report names them in one place (`versions`). Only what the checks already
learnt is used: the driver module versions, the toolkit and the Docker daemon from facts
computed during the run (facts.driver_versions is the one kernel.driver showed). Nothing
new is asked of the host here, so a daemon that hangs cannot stall the report, and a
snapshot replays the same versions.
"""

from __future__ import annotations

from collections.abc import Iterable

from gpudoctor import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

KEYS = ("nvidia_driver", "amdgpu", "toolkit", "docker")


def seen_versions(facts: Any, outcomes: Iterable[Any]) -> dict[str, str | None]:
    """{"nvidia_driver", "amdgpu", "toolkit", "docker"} -> version or None when not seen."""
    versions: dict[str, str | None] = dict.fromkeys(KEYS)
    cache = getattr(facts, "_cache", {}) if facts is not None else {}
    ran = {o.id for o in outcomes}
    drivers = cache.get("driver_versions") if "kernel.driver" in ran else None
    if drivers is not None:
        versions["nvidia_driver"] = _text(drivers.get("nvidia", ("", ""))[0])
        versions["amdgpu"] = _text(drivers.get("amdgpu", ("", ""))[0])
    toolkit = cache.get("toolkit")
    if toolkit is not None:
        versions["toolkit"] = _text(getattr(toolkit, "version", None))
    docker = cache.get("docker")
    if docker is not None:
        try:
            versions["docker"] = _text(docker.server_version)
        except Exception:  # a half-read daemon state: the version is simply unknown
            versions["docker"] = None
    return versions


def _text(value: object) -> str | None:
    return str(value) if value else None
