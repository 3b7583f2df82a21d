"""Running docker, interruptibly: signal holding, leftover containers, the daemon's own words."""

from __future__ import annotations

import atexit
import os
import re
import signal
import threading
import time

from gpudoctor.host import changes
from gpudoctor.host.base import CommandResult
from gpudoctor.host.signals import SignalHold
from gpudoctor.verify.causes import Cause, _cause, map_error
from gpudoctor.verify.constants import T_QUICK, T_REMOVE
from gpudoctor.verify.probe import PROBE, PROBE_MARK


class VerifyInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; raised once the container is gone (or known to be left)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.container: str | None = None
        self.removed = False


class Interrupts(SignalHold):
    """SIGINT/SIGTERM handling for one verification in the main thread.

    A signal cuts the running docker call short, except inside `critical()` (creating the
    container, removing it), where the step finishes first: cutting `docker create` short
    could leave a container the daemon creates after gpudoctor stopped looking for it.
    """

    def __init__(self) -> None:
        super().__init__((signal.SIGINT, signal.SIGTERM), raise_after_critical=False)

    def interrupt(self, signum: int) -> BaseException:
        return VerifyInterrupted(signum)


#: Containers that exist right now, removed at exit if a verification was cut off (a check
#: thread abandoned by the runner's timeout, or an exception nobody expected).
_LIVE: dict[str, tuple[str, dict[str, str]]] = {}
_LIVE_LOCK = threading.Lock()


def force_remove(program: str) -> list[str]:
    """The arguments that remove a container at once, running or not. `docker rm -f` kills;
    `podman rm -f` first waits out the stop timeout (10 s) for a process that ignores SIGTERM,
    as a probe's `sleep` running as PID 1 does, unless told `--time 0` (Podman 3.0+)."""
    if os.path.basename(program) == "podman":
        return ["rm", "-f", "--time", "0"]
    return ["rm", "-f"]


def _remove_leftovers() -> None:
    with _LIVE_LOCK:
        leftovers = list(_LIVE.items())
    for name, (docker, env) in leftovers:
        changes.execute([docker, *force_remove(docker), name], T_REMOVE, env=env)


atexit.register(_remove_leftovers)


class DockerCli:
    """Runs docker (and compose) commands against the chosen daemon, each with a timeout."""

    def __init__(self, docker: str, env: dict[str, str], interrupts: Interrupts | None,
                 deadline: float | None = None):
        self.docker = docker
        self.env = env
        self.interrupts = interrupts
        self.deadline = deadline
        self.commands: list[list[str]] = []

    def limit(self, timeout: float) -> float:
        if self.deadline is None:
            return timeout
        return max(1.0, min(timeout, self.deadline - time.monotonic()))

    def run(self, argv: list[str], timeout: float, record: bool = True,
            use_deadline: bool = True) -> CommandResult:
        if record:
            self.commands.append([PROBE_MARK if arg == PROBE else arg for arg in argv])
        limit = self.limit(timeout) if use_deadline else timeout
        return changes.execute(argv, limit, env=self.env)

    def docker_run(self, *args: str, timeout: float = T_QUICK, record: bool = True,
                   use_deadline: bool = True) -> CommandResult:
        return self.run([self.docker, *args], timeout, record, use_deadline)


def daemon_message(result: CommandResult) -> str:
    """The daemon's own words from a failed docker/compose call, without the CLI's framing."""
    if result.missing:
        return f"{result.argv[0]}: command not found"
    if result.timed_out:
        return f"`{' '.join(result.argv[:3])}` did not finish within {result.timeout:g} s"
    text = (result.stderr or result.stdout).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    noise = ("Error: failed to start containers", "Run 'docker", "See 'docker",
             "Encountered errors while bringing up", "Creating ", "Starting ", "Container ")
    useful = [ln for ln in lines if not ln.startswith(noise)]
    for line in useful:
        if map_error(line):
            return _strip_prefix(line)
    return _strip_prefix(useful[0] if useful else (lines[0] if lines else "no output"))


def cli_not_answering(result: CommandResult) -> Cause:
    """The docker CLI hung or cannot run: say so, never guess what it would have said."""
    command = " ".join(result.argv[:3])
    if result.missing:
        return _cause("docker-cli-missing", f"`{result.argv[0]}` cannot be run: "
                      f"{result.stderr or 'not installed'}",
                      remedy="Install the docker CLI (Debian/Ubuntu: docker.io or docker-ce-cli).",
                      checks=("docker.daemon",))
    return _cause(
        "docker-cli-timed-out", f"`{command}` did not finish within {result.timeout:g} s: the "
        "docker CLI (or the daemon behind it) is not answering",
        "Nothing is known about the image or the GPUs: the command never finished.",
        "Check that `docker version` answers quickly (a hung daemon, a slow credential helper "
        "or a remote context are the usual causes), then run verify again.",
        checks=("docker.daemon",))


def _strip_prefix(line: str) -> str:
    """`docker: ` (docker run) and `ERROR: for NAME  ` (docker-compose 1.x) are not the daemon's."""
    line = re.sub(r"^ERROR: for \S+\s+", "", line.removeprefix("docker: "))
    return line.removeprefix("ERROR: ").strip()
