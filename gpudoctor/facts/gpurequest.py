"""`--gpus`: parsed as the docker CLI parses it, and written as a compose device reservation.

The report's compose fragment (facts/runargs.py) and `verify --compose` both turn `--gpus`
into `deploy.resources.reservations.devices` through here, so neither drops what the other
keeps (extra capabilities, device ids, the driver).
"""

from __future__ import annotations

import csv

from gpudoctor import TYPE_CHECKING
from gpudoctor.errors import UserError
from gpudoctor.record import field, record

if TYPE_CHECKING:
    from typing import Any


@record
class GpuRequest:
    """`--gpus` parsed like docker/cli opts/gpus.go: count (-1 all), ids, driver, caps."""

    raw: str
    count: int | None = None
    device_ids: list[str] = field(default_factory=list)
    driver: str = ""
    capabilities: list[str] = field(default_factory=list)

    @property
    def wanted(self) -> int | None:
        """How many GPUs the request names (None: all)."""
        if self.device_ids:
            return len(self.device_ids)
        if self.count is None or self.count < 0:
            return None
        return self.count



def parse_gpus(value: str) -> GpuRequest:
    """`all`, `2`, `device=0,1` (quoted in the CSV), `count=2,capabilities=utility`..."""
    request = GpuRequest(raw=value)
    try:
        fields = next(csv.reader([value]))
    except (csv.Error, StopIteration) as exc:
        raise UserError(f"--gpus {value}: not a valid value ({exc})") from exc
    for item in fields:
        item = item.strip()
        key, eq, val = item.partition("=")
        if not eq:
            if item == "all":
                request.count = -1
            elif item.isdigit():
                request.count = int(item)
            else:
                raise UserError(f"--gpus {value}: `{item}` is neither `all`, a number nor "
                                "key=value")
        elif key == "count":
            request.count = -1 if val == "all" else _int_or_error(val, value)
        elif key in ("device", "devices"):
            request.device_ids = [v for v in val.split(",") if v]
        elif key == "driver":
            request.driver = val
        elif key in ("capabilities", "capability"):
            request.capabilities = [v for v in val.split(",") if v]
        elif key == "options":
            continue
        else:
            raise UserError(f"--gpus {value}: unknown key `{key}`")
    return request


def _int_or_error(text: str, whole: str) -> int:
    if not text.isdigit():
        raise UserError(f"--gpus {whole}: count `{text}` is not a number or `all`")
    return int(text)




def compose_reservation(request: GpuRequest) -> dict[str, Any]:
    """One `deploy.resources.reservations.devices` entry (the field guide's nvidia driver)."""
    device: dict[str, Any] = {"driver": request.driver or "nvidia"}
    if request.device_ids:
        device["device_ids"] = list(request.device_ids)
    else:
        device["count"] = "all" if request.count is None or request.count < 0 else request.count
    device["capabilities"] = ["gpu", *[c for c in request.capabilities if c != "gpu"]]
    return device
