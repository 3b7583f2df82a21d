"""The exact `docker run` arguments for the selected GPUs (report.md `docker_run_args`).

AMD: `/dev/kfd` plus each selected GPU's render node, resolved (a /dev/dri/by-path name has
colons, which `docker run --device` rejects), and one `--group-add=GID` per distinct numeric
group owning those nodes, because images define their own `render` group (AMD's use GID 109).
NVIDIA: how the daemon can give GPUs: `--gpus=all`, CDI's `--device=nvidia.com/gpu=all`, or
`--runtime=nvidia`, depending on what this host's Docker supports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpudoctor.errors import HostError

if TYPE_CHECKING:
    from gpudoctor.facts import Facts

KFD = "/dev/kfd"


def amd_nodes(facts: Facts) -> list[str]:
    """Device files an AMD container needs: /dev/kfd first, then render nodes in GPU order."""
    gpus = facts.gpus.by_vendor("amd")
    if not gpus:
        return []
    nodes = [KFD]
    for gpu in gpus:
        for render in gpu.render_nodes:
            if render not in nodes:
                nodes.append(render)
    return nodes


def group_ids(facts: Facts, nodes: list[str]) -> list[int]:
    """Distinct numeric GIDs owning the nodes, in node order; root's group 0 is not needed."""
    gids: list[int] = []
    for node in nodes:
        try:
            st = facts.host.device_node(node)
        except HostError:
            st = None
        if st is not None and st.gid != 0 and st.gid not in gids:
            gids.append(st.gid)
    return gids


def nvidia_args(facts: Facts) -> list[str]:
    """How this host's Docker can hand NVIDIA GPUs to a container (facts/docker.py decides)."""
    if not facts.gpus.by_vendor("nvidia"):
        return []
    from gpudoctor.facts.nvidia_args import nvidia_gpu_args

    return nvidia_gpu_args(facts)


def compute_run_args(facts: Facts) -> list[str]:
    args: list[str] = []
    nodes = amd_nodes(facts)
    intel = [n for g in facts.gpus.by_vendor("intel") for n in g.render_nodes]
    nodes += [n for n in intel if n not in nodes]
    args += [f"--device={node}" for node in nodes]
    args += nvidia_args(facts)
    args += [f"--group-add={gid}" for gid in group_ids(facts, nodes)]
    return args
