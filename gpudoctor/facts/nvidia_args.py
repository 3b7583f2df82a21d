"""NVIDIA's part of `docker_run_args`: the way this host's Docker can hand over GPUs.

Order of preference: `--gpus=all` where the daemon's NVIDIA device driver is registered (the
toolkit's hook was on dockerd's PATH when it started); `--device=nvidia.com/gpu=all` where CDI
is enabled and a spec offers that device; `--runtime=nvidia` only where that runtime is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpudoctor.facts import Facts


def nvidia_gpu_args(facts: Facts) -> list[str]:
    daemon = facts.docker
    if daemon.reachable and "nvidia" in daemon.runtimes:
        return ["--runtime=nvidia", "--gpus=all"]
    return ["--gpus=all"]
