"""The CUDA version the loaded NVIDIA driver supports, and images' NVIDIA_REQUIRE_CUDA.

CUDA images declare what they need in NVIDIA_REQUIRE_CUDA; libnvidia-container compares it with
the driver's CUDA version and refuses the container otherwise (`unsatisfied condition`). The
driver's CUDA version comes from a table shipped as data (gpudoctor/data/cuda_driver_versions.json)
or, for a driver newer than the table, from `nvidia-smi` (run, or recorded in a host root).
"""

from __future__ import annotations

import re

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import DockerUnavailable
from gpudoctor.facts.nvidia_layer import (
    API_TIMEOUT,
    SMI_TIMEOUT,
    load_table,
    parse_env,
    version_key,
)
from gpudoctor.record import record

if TYPE_CHECKING:
    from gpudoctor.facts import Facts

CUDA_TABLE = "cuda_driver_versions.json"
CMD_NVIDIA_SMI = "nvidia-smi"


def cuda_for_driver(driver: str) -> tuple[str | None, bool]:
    """(newest CUDA the driver supports, whether the driver is newer than the table knows)."""
    have = version_key(driver)
    if have is None:
        return None, False
    rows = load_table(CUDA_TABLE)["cuda"]
    best = None
    for cuda, minimum in rows:
        if have >= (version_key(minimum) or (0,)):
            best = cuda
    newest_minimum = version_key(rows[-1][1]) or (0,)
    beyond = have[0] > newest_minimum[0] + 5
    return best, beyond


@record
class DriverCuda:
    """The newest CUDA version the loaded NVIDIA driver supports."""

    driver: str | None
    cuda: str | None
    source: str
    at_least: bool = False  # the driver is newer than the table: cuda is a lower bound


def driver_cuda(facts: Facts) -> DriverCuda:
    """The CUDA version the loaded driver supports: the shipped table, or `nvidia-smi` (run, or
    recorded in a host root) for a driver newer than the table."""
    def compute() -> DriverCuda:
        from gpudoctor.facts.cdi import loaded_driver_version

        host = facts.host
        driver = loaded_driver_version(host)
        label = f"(dated {load_table(CUDA_TABLE)['date']})"
        cuda, beyond = cuda_for_driver(driver) if driver else (None, False)
        if cuda is not None and not beyond:
            return DriverCuda(driver, cuda, f"driver {driver} in gpudoctor's driver/CUDA "
                              f"table {label}")
        # a driver newer than the table (or none readable): ask nvidia-smi, where it is
        # installed or was recorded
        smi = None
        if not host.live or host.which("nvidia-smi"):
            smi = host.run(CMD_NVIDIA_SMI, ["nvidia-smi"], timeout=SMI_TIMEOUT)
        if smi is not None and smi.ok:
            match = re.search(r"CUDA Version:\s*(\d+\.\d+)", smi.stdout)
            if match:
                return DriverCuda(driver, match.group(1), "`nvidia-smi` (its header line)")
        if driver is None:
            return DriverCuda(None, None, "no NVIDIA driver is loaded")
        return DriverCuda(driver, cuda, f"driver {driver} in gpudoctor's driver/CUDA table "
                          f"{label}", at_least=beyond)

    return facts.memo("nvidia_layer.driver_cuda", compute)


_CONDITION = re.compile(r"^(cuda|driver|arch|brand)\s*(>=|<=|!=|=|>|<)\s*(\S+)$")


def parse_requirement(value: str) -> list[list[tuple[str, str, str]]]:
    """NVIDIA_REQUIRE_* syntax: space-separated alternatives (OR), each a comma-separated list
    of conditions (AND), e.g. `cuda>=12.4 brand=tesla,driver>=470,driver<471`."""
    alternatives = []
    for clause in value.split():
        conditions = []
        for part in clause.split(","):
            match = _CONDITION.match(part.strip())
            if match:
                conditions.append((match.group(1), match.group(2), match.group(3)))
        if conditions:
            alternatives.append(conditions)
    return alternatives


def _compare(have: tuple[int, ...], op: str, want: tuple[int, ...]) -> bool:
    width = max(len(have), len(want))
    have = have + (0,) * (width - len(have))
    want = want + (0,) * (width - len(want))
    return {">=": have >= want, "<=": have <= want, "=": have == want, "!=": have != want,
            ">": have > want, "<": have < want}[op]


@record
class RequirementVerdict:
    """True: satisfied; False: the toolkit refuses the image; None: cannot be told here."""

    satisfied: bool | None
    requirement: str
    needed_cuda: str | None = None


def judge_requirement(value: str, info: DriverCuda) -> RequirementVerdict:
    """Judge an image's NVIDIA_REQUIRE_CUDA against the driver, as libnvidia-container does."""
    alternatives = parse_requirement(value)
    needed = None
    results: list[bool | None] = []
    for conditions in alternatives:
        outcome: bool | None = True
        for name, op, want in conditions:
            wanted = version_key(want)
            if name == "cuda" and wanted is not None:
                if op in (">=", ">"):
                    needed = want
                have = version_key(info.cuda)
                if have is None:
                    outcome = None if outcome else outcome
                    continue
                ok = _compare(have, op, wanted) or (info.at_least and op in (">=", ">"))
                if not ok:
                    outcome = False
            elif name == "driver" and wanted is not None:
                have = version_key(info.driver)
                if have is None:
                    outcome = None if outcome else outcome
                    continue
                if not _compare(have, op, wanted):
                    outcome = False
            elif outcome:  # brand, arch: not known from host facts
                outcome = None
        results.append(outcome)
    if not results or any(r is True for r in results):
        return RequirementVerdict(True if results else None, value, needed)
    if all(r is False for r in results):
        return RequirementVerdict(False, value, needed)
    # what remains depends on the GPU's brand (forward compatibility), unknown here
    return RequirementVerdict(None, value, needed)


def image_env(facts: Facts, image: str) -> dict[str, str] | None:
    """An image's Config.Env from the Engine API; None when it cannot be inspected."""
    from urllib.parse import quote

    d = facts.docker
    try:
        body = facts.host.docker_api(f"/images/{quote(image, safe='')}/json", d.endpoint,
                                     API_TIMEOUT)
    except DockerUnavailable:
        return None
    config = body.get("Config") if isinstance(body, dict) else None
    return parse_env(config.get("Env")) if isinstance(config, dict) else None


def image_requirement(env: dict[str, str]) -> str | None:
    """NVIDIA_REQUIRE_CUDA of an image or container, unless NVIDIA_DISABLE_REQUIRE turns the
    check off (libnvidia-container skips it then)."""
    if env.get("NVIDIA_DISABLE_REQUIRE", "").lower() in ("1", "true", "yes"):
        return None
    value = env.get("NVIDIA_REQUIRE_CUDA")
    return value.strip() if value and value.strip() else None


__all__ = ["CUDA_TABLE", "DriverCuda", "RequirementVerdict", "cuda_for_driver", "driver_cuda",
           "image_env", "image_requirement", "judge_requirement", "parse_requirement"]
