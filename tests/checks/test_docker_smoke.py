"""docker.smoke in process: where it cannot start a container it says why, and what the
verification found becomes the check's finding (docker.smoke.container_failed when the
container did not get its devices, docker.smoke.not_verified when it could not tell). The
container itself runs against the real test dockerd in tests/test_verify_docker.py."""

from __future__ import annotations

from pathlib import Path

from gpudoctor.checks.docker_smoke import DockerSmoke
from gpudoctor.facts import Facts, Options
from gpudoctor.host.live import LiveHost
from gpudoctor.host.rootfs import RootHost
from gpudoctor.runner import run_checks
from gpudoctor.verify import Cause, VerifyResult

ID = "docker.smoke"


def test_smoke_check_skips_a_host_root(tmp_path: Path) -> None:
    facts = Facts(RootHost(str(tmp_path)), Options(smoke=True))
    result = run_checks([DockerSmoke], facts)[0].result
    assert result.status.value == "skip"
    assert result.summary.startswith("docker.smoke starts a container, which works only on the "
                                     "live host")


def test_a_daemon_that_does_not_answer_starts_nothing(tmp_path: Path) -> None:
    host = LiveHost(env={"DOCKER_HOST": f"unix://{tmp_path}/nothing.sock", "PATH": "/usr/bin"})
    result = DockerSmoke().run(Facts(host, Options(smoke=True)))
    assert (result.status.value, result.findings) == ("skip", [])
    assert result.summary.startswith("the Docker daemon does not answer")


def verified(verdict: str, cause: Cause | None = None) -> VerifyResult:
    return VerifyResult(verdict=verdict, summary=f"what the verification says ({verdict})",
                        endpoint="unix:///var/run/docker.sock", image="busybox:1.36",
                        args=["--device=/dev/kfd"], cause=cause)


def test_a_container_that_did_not_get_its_devices_fails_with_the_cause() -> None:
    cause = Cause("group-missing", "65534:65534 does not hold GID 4243",
                  details="The render node belongs to GID 4243.",
                  remedy="Add `--group-add=4243`.", fixes=("some.fix",))
    result = DockerSmoke()._verdict(verified("fail", cause))
    assert (result.status.value, result.findings) == ("fail", ["docker.smoke.container_failed"])
    assert result.summary == "what the verification says (fail)"
    assert result.details.endswith(" The render node belongs to GID 4243.")
    assert result.remedy == "Add `--group-add=4243`."
    assert result.fixes == ["some.fix"]
    assert result.evidence[0] == ("docker on unix:///var/run/docker.sock with busybox:1.36: "
                                  "--device=/dev/kfd")


def test_a_verification_that_could_not_tell_warns() -> None:
    for verdict in ("warn", "error"):
        result = DockerSmoke()._verdict(verified(verdict))
        assert (result.status.value, result.findings) == ("warn",
                                                          ["docker.smoke.not_verified"])
        assert result.fixes == []


def test_a_container_that_got_its_devices_passes() -> None:
    result = DockerSmoke()._verdict(verified("pass"))
    assert (result.status.value, result.findings) == ("pass", [])
    assert result.summary == "what the verification says (pass)"
    assert result.details.startswith("gpudoctor started a short-lived container")
