"""`gpudoctor explain --container NAME|ID`: why this container has no GPU, or will not start.

Reads what Docker knows of it (state, exit code, the daemon's error, the last lines of its log,
its device requests, devices, group_add, runtime, environment, its image's NVIDIA_REQUIRE_CUDA),
then judges it as `explain` judges text: every known error in the error and the log is a
candidate cause confirmed or ruled out on this host, and its GPU configuration is checked against
the host with the same code docker.containers uses (facts/containers.py).
"""

from __future__ import annotations

from urllib.parse import quote

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import DockerUnavailable, HostError, UserError
from gpudoctor.explain.judge import CONFIRMED, Verdict, judge
from gpudoctor.explain.text import find_causes
from gpudoctor.record import field, record
from gpudoctor.report import Doctor

if TYPE_CHECKING:
    from typing import Any

LOG_LINES = 40
API_TIMEOUT = 10.0
GPU_ENV = ("NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "NVIDIA_REQUIRE_CUDA",
           "NVIDIA_DISABLE_REQUIRE", "CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
           "HIP_VISIBLE_DEVICES", "HSA_OVERRIDE_GFX_VERSION", "ZE_AFFINITY_MASK")


@record
class ContainerStory:
    """What gpudoctor learnt about one container, and what it concluded."""

    name: str
    id: str
    state: str
    exit_code: int | None
    error: str
    image: str
    gpu_config: list[str] = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def confirmed(self) -> bool:
        return bool(self.problems) or any(v.verdict == CONFIRMED for v in self.verdicts)

    def to_json(self) -> dict[str, Any]:
        return {"container": {"name": self.name, "id": self.id, "state": self.state,
                              "exit_code": self.exit_code, "error": self.error,
                              "image": self.image, "gpu_config": self.gpu_config,
                              "log_tail": self.log_tail},
                "problems": self.problems, "notes": self.notes,
                "causes": [v.to_json() for v in self.verdicts]}

    def render(self, paint: Any) -> str:
        from gpudoctor.commands.explain import render_verdicts

        code = f", exit code {self.exit_code}" if self.exit_code not in (None, 0) else ""
        out = [f"Container {self.name} ({self.id[:12]}): {self.state}{code}; image {self.image}"]
        if self.error:
            out.append(f"  the daemon's error: {self.error}")
        out.append("  GPU configuration: " + ("; ".join(self.gpu_config) or
                                             "none (no devices, GPU requests or GPU runtime)"))
        for line in self.notes:
            out.append(f"  {line}")
        if self.problems:
            out += ["", "Its configuration does not fit this host:"]
            out += [f"  {paint.mark('fail')} {p}" for p in self.problems]
            out.append("  Re-create it with the arguments `gpudoctor devices` prints "
                       "(`docker rm NAME`, then `docker run` again); `docker start` re-uses the "
                       "old mappings.")
        if self.verdicts:
            out += ["", render_verdicts(self.verdicts, "this host", paint).rstrip()]
        elif not self.problems:
            out += ["", "No known GPU error in its error or log, and its GPU configuration fits "
                    "this host."]
        return "\n".join(out) + "\n"


def _inspect(doctor: Doctor, name: str) -> dict[str, Any]:
    host, endpoint = doctor.host, _endpoint(doctor)
    try:
        detail = host.docker_api(f"/containers/{quote(name, safe='')}/json", endpoint,
                                 API_TIMEOUT)
        if isinstance(detail, dict):
            return detail
    except DockerUnavailable:
        pass
    try:
        listing = host.docker_api("/containers/json?all=1", endpoint, API_TIMEOUT)
    except DockerUnavailable as exc:
        raise UserError(f"cannot ask the Docker daemon about containers: {exc}") from exc
    for summary in listing if isinstance(listing, list) else []:
        names = [str(n).lstrip("/") for n in summary.get("Names") or []]
        cid = str(summary.get("Id", ""))
        if name in names or (len(name) >= 4 and cid.startswith(name)):
            try:
                detail = host.docker_api(f"/containers/{cid}/json", endpoint, API_TIMEOUT)
            except DockerUnavailable as exc:
                raise UserError(f"container {name}: cannot inspect it: {exc}") from exc
            if isinstance(detail, dict):
                return detail
    raise UserError(f"no container named or with id {name} on this Docker daemon "
                    "(`docker ps -a` lists them)")


def _endpoint(doctor: Doctor) -> str | None:
    try:
        return (doctor.facts or doctor.fresh_facts()).docker.endpoint
    except (HostError, DockerUnavailable):
        return None


def _log_tail(doctor: Doctor, cid: str) -> list[str]:
    """The last lines of its log, through the docker CLI (recorded as `docker-logs-<id>`)."""
    endpoint = _endpoint(doctor)
    argv = ["docker", *(["-H", endpoint] if endpoint else []), "logs", "--tail",
            str(LOG_LINES), cid]
    try:
        result = doctor.host.run(f"docker-logs-{cid[:12]}", argv, timeout=API_TIMEOUT)
    except HostError:
        return []
    if result is None or not result.ok:
        return []
    text = (result.stdout or "") + (result.stderr or "")
    return [line for line in text.splitlines() if line.strip()][-LOG_LINES:]


def _image_env(doctor: Doctor, image_id: str) -> dict[str, str]:
    if not image_id:
        return {}
    try:
        image = doctor.host.docker_api(f"/images/{quote(image_id, safe='')}/json",
                                       _endpoint(doctor), API_TIMEOUT)
    except DockerUnavailable:
        return {}
    env = ((image or {}).get("Config") or {}).get("Env") or []
    return dict(str(e).split("=", 1) for e in env if "=" in str(e))


def describe_gpu_config(hc: dict[str, Any], env: dict[str, str]) -> list[str]:
    """The container's GPU settings in the words of `docker run`."""
    parts: list[str] = []
    for req in hc.get("DeviceRequests") or []:
        if not isinstance(req, dict):
            continue
        caps = [",".join(g) for g in req.get("Capabilities") or [] if isinstance(g, list)]
        ids = req.get("DeviceIDs") or []
        count = req.get("Count")
        which = ",".join(ids) if ids else ("all" if count == -1 else str(count))
        parts.append(f"device request driver={req.get('Driver') or '(any)'} devices={which} "
                     f"capabilities={'|'.join(caps) or '-'}")
    for dev in hc.get("Devices") or []:
        if isinstance(dev, dict):
            parts.append(f"--device={dev.get('PathOnHost')}")
    parts += [f"--group-add={g}" for g in hc.get("GroupAdd") or []]
    runtime = hc.get("Runtime")
    if runtime and runtime != "runc":
        parts.append(f"--runtime={runtime}")
    parts += [f"{k}={v}" for k, v in env.items() if k in GPU_ENV]
    return parts


def explain_container(doctor: Doctor, name: str) -> ContainerStory:
    from gpudoctor.facts.containers import fit_to_host

    detail = _inspect(doctor, name)
    state = detail.get("State") or {}
    config = detail.get("Config") or {}
    hc = detail.get("HostConfig") or {}
    cid = str(detail.get("Id", ""))
    env = dict(str(e).split("=", 1) for e in config.get("Env") or [] if "=" in str(e))
    image_env = _image_env(doctor, str(detail.get("Image", "")))
    story = ContainerStory(
        name=str(detail.get("Name", name)).lstrip("/"), id=cid,
        state=str(state.get("Status", "?")),
        exit_code=state.get("ExitCode") if isinstance(state.get("ExitCode"), int) else None,
        error=str(state.get("Error") or ""), image=str(config.get("Image", "?")),
        gpu_config=describe_gpu_config(hc, env))
    story.log_tail = _log_tail(doctor, cid) if cid else []
    facts = doctor.facts or doctor.fresh_facts()
    story.problems = fit_to_host(facts, story.name, story.state, detail).problems
    require = env.get("NVIDIA_REQUIRE_CUDA") or image_env.get("NVIDIA_REQUIRE_CUDA")
    if require:
        story.notes.append(f"its image requires `{require}` (NVIDIA_REQUIRE_CUDA): the driver "
                           "must support that CUDA version, or the start fails with "
                           "`unsatisfied condition`")
    if story.state == "created" and hc.get("DeviceRequests"):
        story.notes.append("it was created but never started: `docker start` asks the daemon's "
                           "GPU driver now, with the request made at creation")
    text = "\n".join([story.error, *story.log_tail])
    candidates = find_causes(text) if text.strip() else []
    if candidates:
        story.verdicts = judge(doctor, candidates)
    return story
