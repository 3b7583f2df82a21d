"""docker.containers: existing containers whose GPU mappings no longer fit the host.

`docker start` of a stopped container re-uses the device paths, runtime and GPU requests it was
created with (the AMD field guide's last section: "as long as the device files are still
there"). A render node that is gone, one that now belongs to the integrated GPU, a `--gpus`
request the daemon cannot serve or a runtime it no longer has make that start fail or hand the
wrong GPU over.
"""

from __future__ import annotations

from gpudoctor import TYPE_CHECKING
from gpudoctor.plugin import Area, Check, Result, Say, Sentences, Status

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Facts
    from gpudoctor.facts.containers import ContainerProblem

ID = "docker.containers"
#: Containers inspected at most, and the time spent on them, so huge hosts stay quick.
MAX_CONTAINERS = 200
TIME_BUDGET = 10.0

STALE = ("A stopped container is started again with exactly the device paths, GPU requests and "
         "runtime it was created with. The mappings above no longer fit this host: `docker "
         "start` fails (for a device file that is gone: `error gathering device information "
         "while adding custom device`) or hands the container a GPU it should not have.")
RECREATE = ("Re-create each one: `docker rm NAME`, then `docker run` it again with the "
            "arguments `gpudoctor devices` prints (docker_run_args).")

SENTENCES = Sentences(ID, {
    "stale_devices": Say(
        Status.WARN, "{count} container(s) will not start as created, or get the wrong GPU: "
        "{names}", STALE, RECREATE, commands=("gpudoctor devices",)),
    "stale_devices_igpu": Say(
        Status.WARN, "{count} container(s) will not start as created, or get the wrong GPU: "
        "{names}", STALE + " An integrated GPU beside a discrete one makes ROCm crash or pick "
        "the wrong device.", RECREATE, commands=("gpudoctor devices",),
        finding="stale_devices"),
    "ok": Say(Status.PASS, "{checked} container(s) checked; their GPU mappings fit this host",
              "Every existing container's device paths exist and none maps an integrated GPU "
              "beside a discrete one; their GPU requests and runtimes are available."),
    "none": Say(Status.PASS, "no containers exist",
                "Every existing container's device paths exist and none maps an integrated "
                "GPU beside a discrete one; their GPU requests and runtimes are available."),
    "not_captured": Say(Status.SKIP, "the host root did not capture the Docker daemon (no "
                        "`docker` key in its host.json)"),
    "not_answering": Say(Status.SKIP, "the daemon does not answer (see docker.daemon)"),
    "unlisted": Say(Status.SKIP, "the container list could not be read: {error}"),
    "not_a_list": Say(Status.SKIP, "the daemon's container list is not a list"),
})


def _name(summary: dict[str, Any]) -> str:
    names = summary.get("Names") or []
    if names and isinstance(names[0], str):
        return names[0].lstrip("/")
    return str(summary.get("Id", "?"))[:12]


class DockerContainers(Check):
    id = ID
    title = "Existing containers still fit this host's GPUs"
    area = Area.CONTAINER
    order = 100
    timeout = 30.0
    sentences = SENTENCES

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.engines import docker_absent_reason

        return docker_absent_reason(facts)

    def run(self, facts: Facts) -> Result:
        import time

        from gpudoctor.errors import DockerUnavailable
        from gpudoctor.facts.containers import fit_to_host
        from gpudoctor.facts.docker import API_TIMEOUT

        d = facts.docker
        found = self.findings()
        if not d.captured:
            return found.verdict("not_captured")
        if not d.reachable:
            return found.verdict("not_answering")
        host = facts.host
        try:
            listing = host.docker_api("/containers/json?all=1", d.endpoint, API_TIMEOUT)
        except DockerUnavailable as exc:
            return found.verdict("unlisted", error=exc)
        if not isinstance(listing, list):
            return found.verdict("not_a_list")
        started = time.monotonic()
        budget = TIME_BUDGET
        if getattr(facts.options, "timeout_given", False):  # --timeout bounds this check too
            budget = min(TIME_BUDGET, 0.8 * facts.options.check_timeout)
        checked = 0
        bad: list[ContainerProblem] = []
        for summary in listing[:MAX_CONTAINERS]:
            if not isinstance(summary, dict) or not summary.get("Id"):
                continue
            if time.monotonic() - started > budget:
                found.evidence.append(f"stopped after {budget:g} s; {checked} of "
                                      f"{len(listing)} containers inspected")
                break
            name = _name(summary)
            try:
                detail = host.docker_api(f"/containers/{summary['Id']}/json", d.endpoint,
                                         API_TIMEOUT)
            except DockerUnavailable as exc:
                found.evidence.append(f"{name}: not inspected: {exc}")
                continue
            checked += 1
            problem = fit_to_host(facts, name, str(summary.get("State", "?")), detail)
            if problem.problems:
                bad.append(problem)
                found.evidence += [f"{name} ({problem.state}): {p}" for p in problem.problems]
        if len(listing) > MAX_CONTAINERS:
            found.evidence.append(f"only the first {MAX_CONTAINERS} of {len(listing)} "
                                  "containers were inspected")
        if bad:
            names = ", ".join(p.name for p in bad[:6]) + (
                f" and {len(bad) - 6} more" if len(bad) > 6 else "")
            found.say("stale_devices_igpu" if any(p.integrated for p in bad) else
                      "stale_devices", count=len(bad), names=names)
        return found.verdict("ok" if listing else "none", checked=checked)
