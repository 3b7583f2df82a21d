"""Which engine verify drives, and what differs under Podman.

Podman's CLI takes the same create/start/exec/rm/ps commands as Docker's, so verify runs the
same steps through `podman`, with the report's `run_args.podman`. One difference matters for
the proof: `podman exec -u USER` does not give the exec'd process the container's --group-add
groups (Podman 4.3), while `podman run --user USER --group-add ...` does, and that is what the
person's non-root container gets; so the non-root pass runs in a second short container.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.host.base import CommandResult
from gpudoctor.verify.args import RunArgs
from gpudoctor.verify.constants import LABEL, T_EXEC, T_START
from gpudoctor.verify.dockercli import DockerCli
from gpudoctor.verify.probe import PROBE

if TYPE_CHECKING:
    from gpudoctor.facts import Facts


def choose_engine(facts: Facts, wanted: str | None) -> str:
    """The engine verify drives: the one asked for, else the one the person's commands reach."""
    if wanted:
        return wanted
    used = [e.name for e in facts.engines if e.in_use and e.name in ("docker", "podman")]
    return used[0] if used else "docker"


def podman_probe(cli: DockerCli, run_args: RunArgs, image: str, run_id: str, user: str,
                 want: str, paths: list[str]) -> CommandResult:
    """The non-root pass under Podman: a second short container started as that user."""
    argv = ["run", "--rm", "--label", f"{LABEL}={run_id}"]
    if not run_args.network:
        argv.append("--network=none")
    argv += ["--entrypoint=/bin/sh", *run_args.tokens, "--user", user, image,
             "-c", PROBE, "gpudoctor-probe", want, *paths]
    return cli.docker_run(*argv, timeout=T_EXEC + T_START)
