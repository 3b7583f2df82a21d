"""The probe that runs inside the container, and the parser of what it prints."""

from __future__ import annotations

from gpudoctor.record import field, record
from gpudoctor.verify.constants import SMI_TIMEOUT_S

#: POSIX sh (busybox, alpine, dash, bash). $1: "nvidia" to run nvidia-smi; then device paths.
#: Output: tab-separated lines starting with "gdv".
#: `docker exec` does not inherit the environment dockerd puts only into the container's main
#: process (the --gpus path sets NVIDIA_VISIBLE_DEVICES there), so the probe takes NVIDIA_*
#: from PID 1 where it may read it (as root), to see what the workload itself sees; the engine
#: hands the values to the non-root pass with `docker exec -e`.
#: How the probe script appears in the JSON's `commands` (it is long and always the same).
PROBE_MARK = "<gpudoctor probe script>"
PROBE = r"""
want=$1; shift
if [ -r /proc/1/environ ]; then
  for kv in $(tr '\0' '\n' < /proc/1/environ 2>/dev/null | grep '^NVIDIA_'); do export "$kv"; done
fi
printf 'gdv\tuid\t%s\n' "$(id -u)"
printf 'gdv\tgids\t%s\n' "$(id -G)"
for p in "$@"; do
  if [ ! -e "$p" ]; then printf 'gdv\tdev\tmissing\t%s\n' "$p"; continue; fi
  if [ ! -c "$p" ]; then
    printf 'gdv\tdev\tnotchar\t%s\t%s\n' "$p" "$(ls -ld "$p" 2>&1)"; continue
  fi
  meta=$(stat -c '%a %u %g %t %T' "$p" 2>/dev/null || echo '? ? ? ? ?')
  if err=$( (exec 3<>"$p") 2>&1 ); then
    printf 'gdv\tdev\trw\t%s\t%s\n' "$p" "$meta"
  else
    printf 'gdv\tdev\tdenied\t%s\t%s\t%s\n' "$p" "$meta" "$(echo $err)"
  fi
done
for f in /dev/dri/* /dev/dri/*/*; do
  [ -c "$f" ] && printf 'gdv\tdri\t%s\t%s\n' "$f" "$(stat -c '%t %T' "$f" 2>/dev/null)"
done
for f in /dev/nvidia*; do [ -c "$f" ] && printf 'gdv\tnvdev\t%s\n' "$f"; done
printf 'gdv\tnvenv\t%s\n' "${NVIDIA_VISIBLE_DEVICES-<unset>}"
printf 'gdv\tnvcaps\t%s\n' "${NVIDIA_DRIVER_CAPABILITIES-<unset>}"
if [ "$want" = nvidia ]; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    if timeout 5 true >/dev/null 2>&1; then
      out=$(timeout %SMI% nvidia-smi -L 2>&1); rc=$?
    else
      out=$(nvidia-smi -L 2>&1); rc=$?
    fi
    printf 'gdv\tsmi\t%s\t%s\n' "$rc" "$(command -v nvidia-smi)"
    printf '%s\n' "$out" | while IFS= read -r line; do printf 'gdv\tsmiout\t%s\n' "$line"; done
  else
    printf 'gdv\tsmi\tabsent\n'
  fi
fi
printf 'gdv\tend\n'
""".replace("%SMI%", str(SMI_TIMEOUT_S))


@record
class DeviceSeen:
    path: str
    state: str  # rw, denied, missing, notchar
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    major: int | None = None
    minor: int | None = None
    error: str = ""

    def describe(self) -> str:
        if self.mode is None:
            return self.path
        return (f"character device {self.major}:{self.minor}, mode {self.mode:04o}, owner "
                f"{self.uid}:{self.gid}")


@record
class ProbeOutput:
    """What one probe pass saw."""

    user: str
    uid: int | None = None
    gids: list[int] = field(default_factory=list)
    devices: dict[str, DeviceSeen] = field(default_factory=dict)
    dri: list[tuple[str, int, int]] = field(default_factory=list)
    nvidia_nodes: list[str] = field(default_factory=list)
    nvidia_env: str | None = None
    nvidia_caps: str | None = None
    smi_state: str | None = None  # None (not run), "absent", or the exit status
    smi_path: str = ""
    smi_lines: list[str] = field(default_factory=list)
    complete: bool = False
    raw: str = ""


def _int(text: str, base: int = 10) -> int | None:
    try:
        return int(text, base)
    except ValueError:
        return None


def parse_probe(user: str, text: str) -> ProbeOutput:
    out = ProbeOutput(user=user, raw=text)
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 2 or parts[0] != "gdv":
            continue
        kind = parts[1]
        if kind == "uid" and len(parts) > 2:
            out.uid = _int(parts[2])
        elif kind == "gids" and len(parts) > 2:
            out.gids = [g for g in (_int(x) for x in parts[2].split()) if g is not None]
        elif kind == "dev" and len(parts) > 3:
            seen = DeviceSeen(path=parts[3], state=parts[2])
            if parts[2] in ("rw", "denied") and len(parts) > 4:
                meta = parts[4].split()
                if len(meta) == 5:
                    seen.mode = _int(meta[0], 8)
                    seen.uid, seen.gid = _int(meta[1]), _int(meta[2])
                    seen.major, seen.minor = _int(meta[3], 16), _int(meta[4], 16)
            if parts[2] == "denied" and len(parts) > 5:
                seen.error = parts[5]
            elif parts[2] == "notchar" and len(parts) > 4:
                seen.error = parts[4]
            out.devices[seen.path] = seen
        elif kind == "dri" and len(parts) > 3:
            numbers = parts[3].split()
            if len(numbers) == 2:
                major, minor = _int(numbers[0], 16), _int(numbers[1], 16)
                if major is not None and minor is not None:
                    out.dri.append((parts[2], major, minor))
        elif kind == "nvdev" and len(parts) > 2:
            out.nvidia_nodes.append(parts[2])
        elif kind == "nvenv" and len(parts) > 2:
            out.nvidia_env = None if parts[2] == "<unset>" else parts[2]
        elif kind == "nvcaps" and len(parts) > 2:
            out.nvidia_caps = None if parts[2] == "<unset>" else parts[2]
        elif kind == "smi" and len(parts) > 2:
            out.smi_state = parts[2]
            out.smi_path = parts[3] if len(parts) > 3 else ""
        elif kind == "smiout" and len(parts) > 2:
            out.smi_lines.append(parts[2])
        elif kind == "end":
            out.complete = True
    return out
