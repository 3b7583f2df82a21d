"""docker.containers: existing containers whose GPU mappings no longer fit the host.

`docker start` of a stopped container re-uses the device paths, runtime and GPU requests it was
created with (the AMD field guide's last section: "as long as the device files are still
there"). A render node that is gone, one that now belongs to the integrated GPU, a `--gpus`
request the daemon cannot serve or a runtime it no longer has make that start fail or hand the
wrong GPU over.
"""

from __future__ import annotations

import time
from typing import Any

from gpudoctor.errors import DockerUnavailable
from gpudoctor.facts import Facts
from gpudoctor.facts.containers import ContainerProblem, fit_to_host
from gpudoctor.facts.docker import API_TIMEOUT
from gpudoctor.plugin import Area, Check, Findings, Result, Status

#: Containers inspected at most, and the time spent on them, so huge hosts stay quick.
MAX_CONTAINERS = 200
TIME_BUDGET = 10.0


def _name(summary: dict[str, Any]) -> str:
    names = summary.get("Names") or []
    if names and isinstance(names[0], str):
        return names[0].lstrip("/")
    return str(summary.get("Id", "?"))[:12]


class DockerContainers(Check):
    id = "docker.containers"
    title = "Existing containers still fit this host's GPUs"
    area = Area.CONTAINER
    order = 100
    timeout = 30.0

    def applies(self, facts: Facts) -> str | None:
        from gpudoctor.facts.engines import docker_absent_reason

        return docker_absent_reason(facts)

    def run(self, facts: Facts) -> Result:
        d = facts.docker
        if not d.captured:
            return Result.skip("the host root did not capture the Docker daemon (no `docker` "
                               "key in its host.json)")
        if not d.reachable:
            return Result.skip("the daemon does not answer (see docker.daemon)")
        host = facts.host
        try:
            listing = host.docker_api("/containers/json?all=1", d.endpoint, API_TIMEOUT)
        except DockerUnavailable as exc:
            return Result.skip(f"the container list could not be read: {exc}")
        if not isinstance(listing, list):
            return Result.skip("the daemon's container list is not a list")
        found = Findings()
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
            found.add(
                Status.WARN, f"{len(bad)} container(s) will not start as created, or get the "
                f"wrong GPU: {names}",
                "A stopped container is started again with exactly the device paths, GPU "
                "requests and runtime it was created with. The mappings above no longer fit "
                "this host: `docker start` fails (for a device file that is gone: `error "
                "gathering device information while adding custom device`) or hands the "
                "container a GPU it should not have."
                + (" An integrated GPU beside a discrete one makes ROCm crash or pick the "
                   "wrong device." if any(p.integrated for p in bad) else ""),
                remedy="Re-create each one: `docker rm NAME`, then `docker run` it again with "
                       "the arguments `gpudoctor devices` prints (docker_run_args).",
                commands=("gpudoctor devices",), id="docker.containers.stale_devices")
        total = len(listing)
        return found.result(
            f"{checked} container(s) checked; their GPU mappings fit this host" if total else
            "no containers exist",
            "Every existing container's device paths exist and none maps an integrated GPU "
            "beside a discrete one; their GPU requests and runtimes are available.")
