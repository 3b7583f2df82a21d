"""The verification: pick an image, create and start the container, probe it, always remove it.

Over 500 lines on purpose: one session object owns the container from creation to removal
(signals held, cleanup on every path); split, the cleanup guarantees would span modules.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import DockerUnavailable, UserError
from gpudoctor.host import changes
from gpudoctor.host.base import CommandResult
from gpudoctor.record import record
from gpudoctor.verify.args import RunArgs, parse_run_args
from gpudoctor.verify.causes import Cause, _cause, explain_error, map_error
from gpudoctor.verify.compose import compose_service, compose_text
from gpudoctor.verify.constants import (
    CONTAINER_LIFETIME_S,
    DEFAULT_PULL,
    DEFAULT_PULL_NVIDIA,
    GLIBC_FAMILIES,
    LABEL,
    NAME_PREFIX,
    SMALL_FAMILIES,
    T_COMPOSE_UP,
    T_CREATE,
    T_EXEC,
    T_PULL,
    T_QUICK,
    T_REMOVE,
    T_START,
)
from gpudoctor.verify.dockercli import (
    _LIVE,
    _LIVE_LOCK,
    DockerCli,
    Interrupts,
    VerifyInterrupted,
    cli_not_answering,
    daemon_message,
    force_remove,
)
from gpudoctor.verify.engine import choose_engine, podman_probe
from gpudoctor.verify.expect import Expectations, build_expectations
from gpudoctor.verify.judge import judge
from gpudoctor.verify.probe import PROBE, ProbeOutput, parse_probe
from gpudoctor.verify.results import Item, VerifyResult

if TYPE_CHECKING:
    from gpudoctor.facts import Facts


@record
class VerifyRequest:
    """What the person asked for."""

    args: list[str] | None = None  # None: the report's docker_run_args
    image: str | None = None
    compose: bool = False
    pull: bool = False
    #: Seconds the whole verification may take (the docker.smoke check sets one).
    budget: float | None = None
    #: "docker" or "podman"; None: the engine in use on this host (facts.engines).
    engine: str | None = None


def cli_environment(facts: Facts) -> dict[str, str]:
    """The docker CLI's environment: pointed at the daemon facts.docker chose."""
    env = dict(os.environ)
    daemon = facts.docker
    if daemon.endpoint_source in ("DOCKER_HOST", "the default socket"):
        env["DOCKER_HOST"] = daemon.endpoint
        env.pop("DOCKER_CONTEXT", None)
    env.setdefault("DOCKER_CLI_HINTS", "false")
    return env


def run_verification(facts: Facts, request: VerifyRequest,
                     interrupts: Interrupts | None = None,
                     progress: Callable[[str], None] | None = None) -> VerifyResult:
    """Verify on the live host. UserError for a bad request; VerifyInterrupted on a signal."""
    return _Session(facts, request, interrupts, progress).run()


class _Session:
    def __init__(self, facts: Facts, request: VerifyRequest, interrupts: Interrupts | None,
                 progress: Callable[[str], None] | None):
        self.facts = facts
        self.request = request
        self.interrupts = interrupts
        self.progress = progress or (lambda line: None)
        self.result = VerifyResult(method="compose" if request.compose else "docker")
        self.run_id = secrets.token_hex(4)
        self.name = NAME_PREFIX + self.run_id
        self.cli: DockerCli | None = None
        self.engine = "docker"
        self.compose_cmd: list[str] | None = None
        self.compose_dir: str | None = None
        #: a create was attempted (so cleanup must look), and it really produced a container
        self.created = False
        self.existed = False

    # ----- the whole run ------------------------------------------------------------------------
    def run(self) -> VerifyResult:
        if not self.facts.host.live:
            raise UserError("verify starts a real container, which works only on the live host "
                            "(not with --root)")
        result = self.result
        self.engine = choose_engine(self.facts, self.request.engine)
        result.engine = self.engine
        if self.engine == "podman" and self.request.compose:
            raise UserError("--compose drives Docker Compose; verify --engine podman runs the "
                            "container with podman itself (drop --compose)")
        run_args = self._arguments()
        daemon = self.facts.docker
        result.endpoint = daemon.endpoint
        if not run_args.source and result.args_source == "report":
            return self._error(_cause(
                "no-gpu-arguments", "the report has no docker run arguments: no usable GPU is "
                "selected on this host, so there is nothing to give a container",
                "verify tests the report's docker_run_args unless it is given arguments.",
                "Run `gpudoctor check` to see why (gpu.present, kernel.driver), choose GPUs "
                "with --gpu or --include-integrated, or test arguments of your own: "
                "`gpudoctor verify -- --gpus=all`.", ("gpu.present",)), verdict="fail")
        expect = build_expectations(self.facts, run_args)
        result.expected = expect
        if self.engine == "podman":
            docker = self.facts.host.which("podman")
            result.endpoint = f"podman ({self.facts.podman.mode})"
            if docker is None:
                return self._error(_cause(
                    "podman-missing", "the podman command is not installed",
                    "verify --engine podman starts the container with podman itself.",
                    "Install Podman (`sudo apt-get install podman`), or verify with Docker "
                    "(--engine docker)."), verdict="fail")
        elif not daemon.reachable:
            return self._error_from_daemon(daemon.error or "the Docker daemon does not answer")
        else:
            docker = self.facts.host.which("docker")
        if docker is None:
            return self._error(_cause(
                "docker-cli-missing", "the docker command is not installed",
                "verify starts the container with the person's own docker CLI, so that the "
                "daemon's errors are exactly the ones `docker run` would print.",
                "Install the Docker CLI (docker-ce-cli or docker.io)."), verdict="fail")
        deadline = time.monotonic() + self.request.budget if self.request.budget else None
        self.cli = DockerCli(docker, cli_environment(self.facts), self.interrupts, deadline)
        if self.request.compose:
            self.compose_cmd = self._find_compose()
            if self.compose_cmd is None:
                return self._error(_cause(
                    "compose-missing", "neither `docker compose` (v2) nor `docker-compose` is "
                    "installed", "--compose starts the container through a compose file.",
                    "Install the Compose v2 plugin (docker-compose-plugin) or Debian's "
                    "docker-compose package."), verdict="fail")
        try:
            if not self._choose_image(expect):
                return result
            if expect.nvidia_requested and self._cuda_requirement_unmet(run_args):
                return result
            try:
                self._start_and_probe(run_args, expect)
            except VerifyInterrupted as exc:
                self._cleanup_guarded()
                exc.container, exc.removed = self.name, bool(result.removed)
                raise
            except BaseException:
                self._cleanup_guarded()
                raise
            self._cleanup_guarded()
            if self.interrupts is not None:
                try:
                    self.interrupts.check()
                except VerifyInterrupted as exc:
                    exc.container, exc.removed = self.name, bool(result.removed)
                    raise
        finally:
            result.commands = list(self.cli.commands)
        return result.finish()

    def _arguments(self) -> RunArgs:
        result = self.result
        if self.request.args is not None:
            run_args = parse_run_args(self.request.args)
            result.args_source = "command line"
        else:
            report_args = (self.facts.run_args.get("podman", []) if self.engine == "podman"
                           else self.facts.docker_run_args)
            try:
                run_args = parse_run_args(list(report_args))
            except UserError as exc:
                raise UserError(f"the report's run_args for {self.engine} cannot be used: "
                                f"{exc}") from exc
            result.args_source = "report"
        result.args = run_args.tokens
        result.dropped = run_args.dropped
        return run_args

    def _error(self, cause: Cause, verdict: str = "error", error: str | None = None
               ) -> VerifyResult:
        self.result.verdict = verdict
        self.result.decided = True
        self.result.cause = cause
        self.result.summary = cause.summary
        self.result.error = error
        return self.result

    def _error_from_daemon(self, message: str) -> VerifyResult:
        cause = map_error(message) or _cause(
            "daemon-unreachable", f"the Docker daemon cannot be asked: {message}",
            checks=("docker.daemon",))
        return self._error(cause, verdict="fail", error=message)

    # ----- image --------------------------------------------------------------------------------
    def _choose_image(self, expect: Expectations) -> bool:
        result = self.result
        assert self.cli is not None
        wanted = self.request.image
        if wanted:
            present = self.cli.docker_run("image", "inspect", "--format", "{{.Id}}", wanted,
                                          record=False)
            if present.ok:
                result.image, result.image_source = wanted, "requested"
                return True
            if present.timed_out or present.missing:  # not an answer about the image
                self._error(cli_not_answering(present), verdict="fail",
                            error=daemon_message(present))
                return False
            if not self.request.pull:
                self._error(_cause(
                    "image-not-present", f"the image {wanted} is not present on this daemon",
                    "verify never pulls an image unless asked.",
                    f"Re-run with --pull, or pull it first: `docker pull {wanted}`."))
                return False
            return self._pull(wanted)
        found = self._local_small_image(expect.nvidia_requested)
        if found:
            result.image, result.image_source = found, "present"
            return True
        suggestion = DEFAULT_PULL_NVIDIA if expect.nvidia_requested else DEFAULT_PULL
        if self.request.pull:
            return self._pull(suggestion)
        why = ("NVIDIA's injected nvidia-smi needs a glibc image; ubuntu is the image NVIDIA's "
               "own sample workload uses." if expect.nvidia_requested else
               "busybox is about 4 MB and has everything the probe needs.")
        self._error(_cause(
            "image-not-present", "no small image (busybox, alpine, debian, ubuntu...) is present "
            f"on this daemon; verify needs one and never pulls unless asked ({suggestion})",
            why, f"Re-run with --pull (it pulls {suggestion}), pull it yourself "
            f"(`docker pull {suggestion}`), or name a present image with --image."))
        return False

    def _cuda_requirement_unmet(self, run_args: RunArgs) -> bool:
        """The image's NVIDIA_REQUIRE_CUDA against the loaded driver, before running anything:
        the toolkit would refuse it (`unsatisfied condition: cuda>=X`)."""
        from gpudoctor.facts.nvidia_cuda import (
            image_env,
            image_requirement,
            judge_requirement,
        )

        image = self.result.image
        if not image or any("NVIDIA_DISABLE_REQUIRE=" in t for t in run_args.tokens):
            return False
        env = image_env(self.facts, image)
        requirement = image_requirement(env) if env is not None else None
        if requirement is None:
            return False
        info = self.facts.driver_cuda
        verdict = judge_requirement(requirement, info)
        if verdict.satisfied is not False:
            return False
        text = f"requirement error: unsatisfied condition: cuda>={verdict.needed_cuda}"
        from gpudoctor.record import replace

        cause = map_error(text)
        assert cause is not None
        cause = replace(cause, details=(
            f"{image} sets NVIDIA_REQUIRE_CUDA={requirement}; the loaded driver "
            f"{info.driver or '?'} supports CUDA {info.cuda or '?'} (from {info.source}). "
            "Found before running anything. " + cause.details), matched="")
        self._error(cause, verdict="fail")
        return True

    def _pull(self, image: str) -> bool:
        assert self.cli is not None
        self.progress(f"pulling {image} (--pull)...")
        pulled = self.cli.docker_run("pull", image, timeout=T_PULL)
        if not pulled.ok:
            message = daemon_message(pulled)
            self._error(map_error(message) or _cause(
                "image-pull-failed", f"pulling {image} failed: {message}",
                remedy=f"Check the name and the network, or pull it yourself: `docker pull "
                       f"{image}`."), error=message)
            return False
        self.result.image, self.result.image_source = image, "pulled"
        return True

    def _local_small_image(self, nvidia: bool) -> str | None:
        """The smallest image of a known small family that is already present."""
        tags = self._local_images()
        families = GLIBC_FAMILIES + tuple(f for f in SMALL_FAMILIES if f not in GLIBC_FAMILIES) \
            if nvidia else SMALL_FAMILIES
        for family in families:
            matches = [(size, tag) for tag, size in tags
                       if tag.rsplit(":", 1)[0].rsplit("/", 1)[-1] == family]
            if matches:
                return min(matches)[1]
        return None

    def _local_images(self) -> list[tuple[str, int]]:
        daemon = self.facts.docker
        try:
            if self.engine == "podman":  # no Engine API to ask: the CLI lists them
                raise DockerUnavailable("podman")
            images = self.facts.host.docker_api("/images/json", daemon.endpoint, T_QUICK)
            tags: list[tuple[str, int]] = []
            for image in images or []:
                for tag in image.get("RepoTags") or []:
                    if tag and "<none>" not in tag:
                        tags.append((tag, int(image.get("Size") or 0)))
            return tags
        except (DockerUnavailable, AttributeError, TypeError, ValueError):
            pass
        assert self.cli is not None
        listed = self.cli.docker_run("image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
                                     record=False)
        return [(line.strip(), 0) for line in listed.stdout.splitlines()
                if line.strip() and "<none>" not in line]

    # ----- compose ------------------------------------------------------------------------------
    def _find_compose(self) -> list[str] | None:
        assert self.cli is not None
        v2 = self.cli.docker_run("compose", "version", "--short", record=False)
        if v2.ok:
            self.result.compose = {"command": [self.cli.docker, "compose"],
                                   "version": v2.stdout.strip() or None, "file": ""}
            return [self.cli.docker, "compose"]
        standalone = self.facts.host.which("docker-compose")
        if standalone is None:
            return None
        version = self.cli.run([standalone, "version", "--short"], T_QUICK, record=False)
        self.result.compose = {"command": [standalone],
                               "version": version.stdout.strip() or None, "file": ""}
        return [standalone]

    @property
    def _compose_is_v1(self) -> bool:
        version = (self.result.compose or {}).get("version") or ""
        return version.startswith("1.")

    # ----- start, probe -------------------------------------------------------------------------
    def _register(self) -> None:
        assert self.cli is not None
        with _LIVE_LOCK:
            _LIVE[self.name] = (self.cli.docker, self.cli.env)

    def _start_and_probe(self, run_args: RunArgs, expect: Expectations) -> None:
        assert self.cli is not None and self.result.image is not None
        result = self.result
        result.container = self.name
        if self.request.compose:
            started = self._compose_up(run_args)
        else:
            started = self._docker_start(run_args)
        if not started:
            return
        self._runtime_item(run_args)
        want = "nvidia" if expect.nvidia_requested or run_args.env.get(
            "NVIDIA_VISIBLE_DEVICES") else "-"
        paths = [d.path for d in expect.devices]
        passes: list[ProbeOutput] = []
        for user in expect.users:
            self.progress(f"probing as {user}...")
            env: list[str] = []
            root_pass = passes[0] if passes else None
            if root_pass is not None and root_pass.nvidia_env is not None:
                env += ["-e", f"NVIDIA_VISIBLE_DEVICES={root_pass.nvidia_env}"]
            if root_pass is not None and root_pass.nvidia_caps is not None:
                env += ["-e", f"NVIDIA_DRIVER_CAPABILITIES={root_pass.nvidia_caps}"]
            if self.engine == "podman" and user != "root":
                probe = podman_probe(self.cli, run_args, self.result.image or "", self.run_id,
                                     user, want, paths)
            else:
                probe = self.cli.docker_run("exec", "-u", "0:0" if user == "root" else user,
                                            *env, self.name, "/bin/sh", "-c", PROBE,
                                            "gpudoctor-probe", want, *paths, timeout=T_EXEC)
            output = parse_probe(user, probe.stdout)
            if not output.complete:
                message = daemon_message(probe)
                result.items.append(Item(
                    "probe", "fail", f"the probe did not run as {user}: {message}", user=user,
                    evidence=[probe.stdout.strip()[-500:]] if probe.stdout.strip() else [],
                    cause=explain_error(probe.stderr + probe.stdout, self.facts)))
                result.error = result.error or message
                continue
            passes.append(output)
        judge(result, expect, run_args, passes)

    def _docker_start(self, run_args: RunArgs) -> bool:
        assert self.cli is not None and self.result.image is not None
        create = ["create", "--name", self.name, "--label", f"{LABEL}={self.run_id}",
                  "--label", f"{LABEL}.pid={os.getpid()}", "--rm"]
        if not run_args.network:
            create.append("--network=none")
        create += ["--entrypoint=/bin/sh", *run_args.tokens, self.result.image, "-c",
                   f"sleep {CONTAINER_LIFETIME_S}"]
        self.progress(f"creating {self.name} from {self.result.image}...")
        self._register()
        ctx = self.interrupts.critical() if self.interrupts else contextlib.nullcontext()
        with ctx:
            created = self.cli.docker_run(*create, timeout=T_CREATE)
            self.created = True
        if self.interrupts is not None:
            self.interrupts.check()
        if not created.ok:
            return self._start_failed("create", created)
        self.existed = True
        started = self.cli.docker_run("start", self.name, timeout=T_START)
        if not started.ok:
            return self._start_failed("start", started)
        self.result.items.append(Item("start", "pass", f"container {self.name} started",
                                      evidence=[" ".join(["docker", *create])]))
        return True

    def _compose_up(self, run_args: RunArgs) -> bool:
        assert self.cli is not None and self.compose_cmd is not None
        service = compose_service(run_args, str(self.result.image), self.name, self.run_id,
                                  self._compose_is_v1)
        text = compose_text(service)
        self.compose_dir = changes.scratch_dir("gpudoctor-verify-")
        path = changes.write_scratch(self.compose_dir, "compose.yaml", text)
        assert self.result.compose is not None
        self.result.compose["file"] = text
        self.progress(f"docker compose up for {self.name}...")
        self._register()
        ctx = self.interrupts.critical() if self.interrupts else contextlib.nullcontext()
        with ctx:
            up = self.cli.run([*self.compose_cmd, "-p", self.name, "-f", path, "up", "-d"],
                              T_COMPOSE_UP)
            self.created = True
        if self.interrupts is not None:
            self.interrupts.check()
        self.existed = self.existed or bool(self._left_behind())
        if not up.ok:
            return self._start_failed("compose up", up)
        self.result.items.append(Item("start", "pass", f"compose started {self.name}",
                                      evidence=[f"{' '.join(self.compose_cmd)} -p {self.name} "
                                                f"-f {path} up -d"]))
        return True

    def _start_failed(self, step: str, outcome: CommandResult) -> bool:
        message = daemon_message(outcome)
        full = (outcome.stderr or outcome.stdout).strip()
        cause = explain_error(full, self.facts) or explain_error(message, self.facts)
        self.result.error = message
        self.result.items.append(Item(
            "start", "fail", f"the container did not start ({step}): {message}",
            evidence=[line for line in full.splitlines() if line.strip()][-8:], cause=cause))
        return False

    def _runtime_item(self, run_args: RunArgs) -> None:
        if not run_args.runtime:
            return
        assert self.cli is not None
        inspected = self.cli.docker_run("inspect", "--type", "container", "--format",
                                        "{{.HostConfig.Runtime}}", self.name, record=False)
        used = inspected.stdout.strip()
        if used == run_args.runtime:
            self.result.items.append(Item("runtime", "pass", f"the container runs with the "
                                          f"`{used}` runtime", target=used))
        else:
            self.result.items.append(Item(
                "runtime", "fail", f"asked for runtime `{run_args.runtime}`, the daemon used "
                f"`{used or 'unknown'}`", target=run_args.runtime))

    # ----- cleanup ------------------------------------------------------------------------------
    def _cleanup_guarded(self) -> None:
        for _ in range(3):
            try:
                ctx = self.interrupts.critical() if self.interrupts else \
                    contextlib.nullcontext()
                with ctx:
                    self._cleanup()
                return
            except VerifyInterrupted:
                continue  # a signal slipped in before the cleanup was shielded: do it again

    def _cleanup(self) -> None:
        if self.cli is None or not self.created:
            self._remove_compose_dir()
            return
        cli = self.cli
        remove = force_remove(cli.docker)
        removed = cli.docker_run(*remove, self.name, timeout=T_REMOVE, use_deadline=False)
        if self.compose_cmd is not None:
            # What `compose down` would remove besides the container, without its stop timeout:
            # networks of the project (none with network_mode, but a person's --network may).
            networks = cli.docker_run("network", "ls", "-q", "--filter",
                                      f"label=com.docker.compose.project={self.name}",
                                      timeout=T_QUICK, record=False, use_deadline=False)
            for network in networks.stdout.split():
                cli.docker_run("network", "rm", network, timeout=T_REMOVE, use_deadline=False)
        # The container is created with --rm, so the daemon may be removing it already; give
        # that a moment, and remove whatever carries this run's label.
        left = self._left_behind()
        until = time.monotonic() + T_REMOVE
        while left and time.monotonic() < until:
            for container_id in left:
                cli.docker_run(*remove, container_id, timeout=T_REMOVE, use_deadline=False,
                               record=False)
            time.sleep(0.2)
            left = self._left_behind()
        self._remove_compose_dir()
        self.result.removed = not left
        if not left:
            with _LIVE_LOCK:
                _LIVE.pop(self.name, None)
            what = f"container {self.name} removed" if removed.ok and self.existed else \
                f"no container left behind ({self.name} was never created)"
            self.result.items.append(Item("cleanup", "pass", what, target=self.name))
        else:
            self.result.items.append(Item(
                "cleanup", "warn", f"container {self.name} could not be removed: remove it with "
                f"`docker rm -f {self.name}`", target=self.name, evidence=left))

    def _left_behind(self) -> list[str]:
        assert self.cli is not None
        listed = self.cli.docker_run("ps", "-a", "-q", "--filter", f"label={LABEL}={self.run_id}",
                                     timeout=T_QUICK, record=False, use_deadline=False)
        if not listed.ok:
            return [self.name]
        return [line.strip() for line in listed.stdout.splitlines() if line.strip()]

    def _remove_compose_dir(self) -> None:
        if self.compose_dir:
            changes.remove_scratch(self.compose_dir)
            self.compose_dir = None
