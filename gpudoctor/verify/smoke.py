"""docker.smoke: the opt-in check that runs a verification and reports it as a check result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpudoctor.errors import HostError, UserError
from gpudoctor.verify.results import VerifyResult
from gpudoctor.verify.session import VerifyRequest, run_verification

if TYPE_CHECKING:
    from gpudoctor.facts import Facts
    from gpudoctor.plugin import Result


SMOKE_BUDGET_S = 100.0


def smoke_result(facts: Facts) -> Result:
    """The docker.smoke check: the same verification with the report's arguments."""
    from gpudoctor.plugin import Result

    daemon = facts.docker
    if not daemon.reachable:
        return Result.skip("the Docker daemon does not answer, so no container can be started "
                           "(see docker.daemon)")
    try:
        args = list(facts.docker_run_args)
    except (HostError, UserError) as exc:
        return Result.skip(f"the docker run arguments could not be computed: {exc}")
    if not args:
        return Result.skip("no GPU is selected, so there are no arguments to start a container "
                           "with (see gpu.present)")
    request = VerifyRequest(args=None, image=facts.options.image, budget=SMOKE_BUDGET_S)
    try:
        verified = run_verification(facts, request)
    except UserError as exc:
        return Result.error(f"docker.smoke could not run: {exc}")
    return as_check_result(verified)


def as_check_result(verified: VerifyResult) -> Result:
    from gpudoctor.plugin import Result, Status

    evidence = [f"{'docker' if verified.method == 'docker' else 'compose'} on "
                f"{verified.endpoint} with {verified.image or 'no image'}: "
                + " ".join(verified.args)]
    evidence += [f"[{i.status}] {i.summary}" for i in verified.items]
    if verified.error:
        evidence.append(f"daemon: {verified.error}")
    cause = verified.cause
    details = ("gpudoctor started a short-lived container with the report's docker_run_args "
               "and checked from inside it that each device opens read-write as root and as a "
               "non-root user holding the added groups, and for NVIDIA that nvidia-smi lists "
               "the GPUs.")
    if cause is not None and cause.details:
        details += " " + cause.details
    status = {"pass": Status.PASS, "warn": Status.WARN, "fail": Status.FAIL}.get(
        verified.verdict, Status.WARN)
    return Result(status, verified.summary or "verification did not run", details=details,
                  evidence=evidence, remedy=cause.remedy if cause else "",
                  fixes=list(cause.fixes) if cause else [])
