"""docker.smoke: a real container with the report's docker run arguments gets its GPUs.

Opt-in (`gpudoctor check --smoke`, `fix --smoke`, a TUI key): it starts a container, which a
report must never do unasked. The engine is gpudoctor/verify/, shared with `gpudoctor verify`,
imported only when the check runs so that `gpudoctor --json` stays fast.
"""

from __future__ import annotations

from gpudoctor.facts import Facts
from gpudoctor.plugin import Area, Check, Result


class DockerSmoke(Check):
    id = "docker.smoke"
    title = "A container really gets the GPUs"
    area = Area.CONTAINER
    order = 110
    requires = ("docker.daemon",)
    opt_in = True
    #: Longer than the engine's own budget (verify.SMOKE_BUDGET_S), so the engine always gets
    #: to remove its container before the runner gives up on the check.
    timeout = 150.0

    def applies(self, facts: Facts) -> str | None:
        if not facts.host.live:
            return (f"docker.smoke starts a container, which works only on the live host, not "
                    f"on {facts.host.describe()}")
        return None

    def run(self, facts: Facts) -> Result:
        from gpudoctor.verify import smoke_result

        return smoke_result(facts)
