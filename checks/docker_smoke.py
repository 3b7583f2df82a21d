"""docker.smoke: a real container with the report's docker run arguments gets its GPUs.

Opt-in (`gpudoctor check --smoke`, `fix --smoke`, a TUI key): it starts a container, which a
report must never do unasked. The engine is gpudoctor/verify/, shared with `gpudoctor verify`,
imported only when the check runs so that `gpudoctor --json` stays fast. What went wrong
inside the container is worded by the engine's own table (verify's ERROR_RULES and causes);
this table says how the check reports it.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from gpudoctor.facts import Facts
    from gpudoctor.verify import VerifyResult

ID = "docker.smoke"
DONE = ("gpudoctor started a short-lived container with the report's docker_run_args and "
        "checked from inside it that each device opens read-write as root and as a non-root "
        "user holding the added groups, and for NVIDIA that nvidia-smi lists the GPUs.")

SENTENCES = Sentences(ID, {
    "container_failed": Say(Status.FAIL, "{summary}", DONE + "{cause_details}", "{remedy}"),
    "not_verified": Say(Status.WARN, "{summary}", DONE + "{cause_details}", "{remedy}"),
    "could_not_run": Say(Status.ERROR, "docker.smoke could not run: {error}"),
    "ok": Say(Status.PASS, "{summary}", DONE),
    "not_answering": Say(Status.SKIP, "the Docker daemon does not answer, so no container can "
                         "be started (see docker.daemon)"),
    "no_arguments": Say(Status.SKIP, "the docker run arguments could not be computed: {error}"),
    "no_gpu": Say(Status.SKIP, "no GPU is selected, so there are no arguments to start a "
                  "container with (see gpu.present)"),
})


class DockerSmoke(Check):
    id = ID
    title = "A container really gets the GPUs"
    area = Area.CONTAINER
    order = 110
    requires = ("docker.daemon",)
    opt_in = True
    #: Longer than the engine's own budget (verify.SMOKE_BUDGET_S), so the engine always gets
    #: to remove its container before the runner gives up on the check.
    timeout = 150.0
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        if not facts.host.live:
            return (f"docker.smoke starts a container, which works only on the live host, not "
                    f"on {facts.host.describe()}")
        return None

    def run(self, facts: Facts) -> Result:
        from gpudoctor.errors import HostError, UserError
        from gpudoctor.verify import SMOKE_BUDGET_S, VerifyRequest, run_verification

        found = self.findings()
        if not facts.docker.reachable:
            return found.verdict("not_answering")
        try:
            args = list(facts.docker_run_args)
        except (HostError, UserError) as exc:
            return found.verdict("no_arguments", error=exc)
        if not args:
            return found.verdict("no_gpu")
        request = VerifyRequest(args=None, image=facts.options.image, budget=SMOKE_BUDGET_S)
        try:
            verified = run_verification(facts, request)
        except UserError as exc:
            found.say("could_not_run", error=exc)
            return found.verdict("ok")
        return self._verdict(verified)

    def _verdict(self, verified: VerifyResult) -> Result:
        """The verification as the check's result: its items are the evidence."""
        found = self.findings([f"{'docker' if verified.method == 'docker' else 'compose'} on "
                               f"{verified.endpoint} with {verified.image or 'no image'}: "
                               + " ".join(verified.args)])
        found.evidence += [f"[{i.status}] {i.summary}" for i in verified.items]
        if verified.error:
            found.evidence.append(f"daemon: {verified.error}")
        cause = verified.cause
        summary = verified.summary or "verification did not run"
        if verified.verdict == "pass":
            return found.verdict("ok", summary=summary)
        found.say("container_failed" if verified.verdict == "fail" else "not_verified",
                  summary=summary,
                  cause_details=" " + cause.details if cause and cause.details else "",
                  remedy=cause.remedy if cause else "",
                  fixes=tuple(cause.fixes) if cause else ())
        return found.verdict("ok", summary=summary)
