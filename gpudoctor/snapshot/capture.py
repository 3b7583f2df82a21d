"""The capture: run the diagnosis on a RecordingHost, then write the archive and host.json."""

from __future__ import annotations

import io
import json
import os
import posixpath
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from gpudoctor import TYPE_CHECKING, __version__
from gpudoctor.credentials import is_docker_client_config, reduce_docker_client_config
from gpudoctor.errors import DockerUnavailable, HostError, UserError
from gpudoctor.host.base import CommandResult, Host, ProcessInfo
from gpudoctor.host.recording import RecordingHost
from gpudoctor.record import field, record
from gpudoctor.snapshot.limits import HOST_JSON
from gpudoctor.snapshot.redact import DMI_SERIALS, HOSTNAME_EXEMPT, Redactor
from gpudoctor.snapshot.tree import Member, Tree

if TYPE_CHECKING:
    from typing import Any


@record
class Snapshot:
    """What `gpudoctor snapshot` wrote."""

    path: str
    size: int
    members: int
    seconds: float
    host_json: dict[str, Any]
    statuses: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        doc = self.host_json
        return {
            "archive": self.path, "size_bytes": self.size, "members": self.members,
            "seconds": round(self.seconds, 3), "captured_at": doc.get("captured_at"),
            "captured_by": doc.get("captured_by"), "redaction": doc.get("redaction"),
            "redacted": doc.get("redacted", []), "unreadable": doc.get("unreadable", []),
            "omitted": doc.get("omitted", []), "checks": dict(self.statuses),
        }


def default_output(now: float | None = None, folder: str = ".") -> str:
    """gpudoctor-snapshot-DATE-TIME.tar.gz in folder (never the hostname), not overwriting."""
    stamp = datetime.fromtimestamp(now if now is not None else time.time())
    base = os.path.join(folder, f"gpudoctor-snapshot-{stamp:%Y%m%d-%H%M}")
    candidate, n = f"{base}.tar.gz", 2
    while os.path.lexists(candidate):
        candidate, n = f"{base}-{n}.tar.gz", n + 1
    return candidate


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bounded(fn: Callable[[], Any], seconds: float) -> None:
    """Run fn in a daemon thread, giving up after seconds (a hung plan must not hang capture)."""
    done = threading.Event()

    def target() -> None:
        try:
            fn()
        except Exception:  # best effort: the plans are extra material for the archive
            pass
        finally:
            done.set()

    threading.Thread(target=target, daemon=True, name="snapshot:extra").start()
    done.wait(seconds)


def diagnose(recorder: RecordingHost, options: Any) -> tuple[Any, dict[str, str]]:
    """Run every check (and the planning of offered fixes) through the recorder."""
    from gpudoctor.report import Doctor

    doctor = Doctor(host=recorder, options=options)
    outcomes = doctor.run()
    doctor.report()  # the report's gpus and docker_run_args read facts of their own
    statuses = {o.id: o.result.status.value for o in outcomes}
    facts = doctor.facts
    limit = float(getattr(options, "check_timeout", 20.0) or 20.0)

    def daemon_state() -> None:
        # The daemon's info, version and containers belong in every snapshot (bug reports
        # ask for them), even when no check needed them.
        if facts is None:
            return
        daemon = facts.docker
        if daemon.reachable and "containers" not in recorder.docker:
            try:
                recorder.docker_api("/containers/json?all=1", daemon.endpoint, 5.0)
            except DockerUnavailable:
                pass

    def plans() -> None:
        # `gpudoctor fix --dry-run --root SNAPSHOT` plans from the archive: planning is
        # read-only by the Fix contract, so record what it reads too.
        from gpudoctor.fixer import plan_fixes

        plan_fixes(doctor)

    if facts is not None:
        _bounded(daemon_state, limit)
        _bounded(plans, limit)
    return doctor, statuses


def _process_doc(proc: ProcessInfo, redactor: Redactor) -> dict[str, Any]:
    where = f"process {proc.pid} ({proc.name})"
    env = {k: redactor.env_value(k, v, f"{where} environment")
           for k, v in sorted(proc.env.items())}
    return {
        "pid": proc.pid, "ppid": proc.ppid, "uid": proc.uid,
        "name": redactor.text(proc.name, where), "exe": redactor.text(proc.exe, where),
        "cmdline": [redactor.text(a, where) for a in proc.cmdline],
        "env_path": redactor.text(proc.env_path, where) if proc.env_path is not None else None,
        "create_time": proc.create_time, "env": env,
    }


def _command_doc(name: str, result: CommandResult, redactor: Redactor) -> dict[str, Any]:
    where = f"command {name}"
    doc: dict[str, Any] = {
        "argv": [redactor.text(a, where) for a in result.argv],
        "returncode": result.returncode,
        "stdout": redactor.text(result.stdout, where),
        "stderr": redactor.text(result.stderr, where),
    }
    if result.missing:
        doc["missing"] = True
    if result.timed_out:
        doc["timed_out"] = True
        doc["timeout"] = result.timeout
    return doc


def _learn_identities(inner: Host, tree: Tree, recorder: RecordingHost,
                      redactor: Redactor) -> None:
    """Collect the values to replace before replacing anything, so all places agree."""
    for path in ("/proc/sys/kernel/hostname", "/etc/hostname"):
        text = inner.read_attr(path)
        if text:
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            if lines and not lines[0].startswith("#"):
                redactor.learn_hostname(lines[0])
    info = recorder.docker.get("info")
    if isinstance(info, dict) and isinstance(info.get("Name"), str):
        redactor.learn_hostname(info["Name"])
    for path in DMI_SERIALS:
        redactor.learn_serial(inner.read_attr(path))
    for member in tree.members.values():
        if member.data is None or _public_data(member.path):
            continue
        try:
            text = member.data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        redactor.learn_from_text(text, posixpath.basename(member.path))
    for result in recorder.commands.values():
        redactor.learn_from_text(result.stdout)
        redactor.learn_from_text(result.stderr)
    redactor.learn_json(recorder.docker)


def _keep_read_fields_only(tree: Tree, recorder: RecordingHost, redactor: Redactor) -> None:
    """~/.docker/config.json keeps only what gpudoctor reads (logins, helpers and HTTP headers
    are not a host's facts and never leave it, even with --no-redact)."""
    docker_config = recorder.env.get("DOCKER_CONFIG")
    for member in tree.members.values():
        if member.kind == "file" and member.data is not None and \
                is_docker_client_config(member.path, docker_config):
            reduced = reduce_docker_client_config(member.data)
            if redactor.enabled and json.loads(reduced) != _json_or_none(member.data):
                redactor.found.add(("credentials", member.path))
            member.data = reduced


def _json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _public_data(path: str) -> bool:
    """Account, module, package and device-name tables: their words are not identities."""
    return path in HOSTNAME_EXEMPT or posixpath.basename(path) == "pci.ids"


def _redact_tree(tree: Tree, redactor: Redactor) -> list[Member]:
    members = []
    for member in tree.finish():
        name = redactor.path(member.path)
        if member.kind == "link":
            member.target = redactor.path(member.target, near=member.path)
        elif member.kind == "file" and member.data:
            try:
                text = member.data.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None:
                new = redactor.text(text, member.path, posixpath.basename(member.path),
                                    hostnames=not _public_data(member.path))
                if new != text:
                    member.data = new.encode("utf-8")
        member.path = name
        members.append(member)
    return members


def build_host_json(inner: Host, recorder: RecordingHost, tree: Tree, redactor: Redactor,
                    captured_at: float, statuses: dict[str, str]) -> dict[str, Any]:
    doc: dict[str, Any] = {"format": 1, "captured_at": _iso(captured_at),
                           "captured_by": f"gpudoctor {__version__}"}
    user = recorder.user()
    if user is not None:
        doc["user"] = {"name": user.name, "uid": user.uid, "gid": user.gid,
                       "groups": list(user.groups)}
        if user.home:
            doc["user"]["home"] = user.home
    if recorder.env:
        doc["env"] = {k: redactor.env_value(k, v, "environment")
                      for k, v in sorted(recorder.env.items())}
    nodes = dict(tree.device_nodes)
    for asked, st in recorder.devices.items():
        try:
            real = inner.realpath(asked)
        except HostError:
            real = asked
        if real not in nodes:
            nodes[asked] = {"type": st.kind, "major": st.major, "minor": st.minor,
                            "mode": st.mode_octal, "uid": st.uid, "gid": st.gid}
    doc["device_nodes"] = {redactor.path(p): nodes[p] for p in sorted(nodes)}
    procs = recorder.processes()
    if procs is not None:
        doc["processes"] = [_process_doc(p, redactor) for p in procs]
    captured_elsewhere = getattr(inner, "has_docker_capture", None)
    if inner.live or not callable(captured_elsewhere) or captured_elsewhere():
        if recorder.docker:
            doc["docker"] = {k: redactor.json(v, f"docker {k}")
                             for k, v in sorted(recorder.docker.items())}
        elif recorder.docker_errors:
            doc["docker"] = {"error": redactor.text(recorder.docker_errors[0], "docker error")}
    doc["commands"] = {name: _command_doc(name, res, redactor)
                       for name, res in sorted(recorder.commands.items())}
    doc["statuses"] = dict(statuses)
    doc["redaction"] = redactor.enabled
    doc["unreadable"] = [{"path": redactor.path(p), "reason": r}
                         for p, r in sorted(tree.unreadable.items())]
    doc["omitted"] = [{"path": redactor.path(p), "size": s, "reason": r}
                      for p, (s, r) in sorted(tree.omitted.items())]
    if tree.special:
        doc["special_files"] = {redactor.path(p): v for p, v in sorted(tree.special.items())}
    if tree.truncated:
        doc["truncated"] = list(tree.truncated)
    doc["redacted"] = redactor.report()
    return doc


def write_archive(output: str, members: list[Member], host_json: dict[str, Any],
                  mtime: float) -> int:
    """Write the gzip'd tar atomically (temp file beside it, then rename); returns its size."""
    import gzip
    import tarfile
    import tempfile

    folder = os.path.dirname(os.path.abspath(output))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".gpudoctor-snapshot-", suffix=".partial", dir=folder)
    except OSError as exc:
        raise UserError(f"cannot write {output}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as raw, \
                gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=int(mtime)) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for member in members:
                info = tarfile.TarInfo(member.path.lstrip("/"))
                info.mtime = member.mtime
                info.uid, info.gid = max(member.uid, 0), max(member.gid, 0)
                payload = None
                if member.kind == "dir":
                    info.type, info.mode = tarfile.DIRTYPE, member.mode & 0o7777 or 0o755
                elif member.kind == "link":
                    info.type, info.linkname, info.mode = tarfile.SYMTYPE, member.target, 0o777
                else:
                    data = member.data or b""
                    info.mode, info.size, payload = member.mode & 0o777, len(data), io.BytesIO(data)
                tar.addfile(info, payload)
            body = (json.dumps(host_json, indent=1, sort_keys=False) + "\n").encode("utf-8")
            folder_info = tarfile.TarInfo(".gpudoctor")
            folder_info.type, folder_info.mode, folder_info.mtime = tarfile.DIRTYPE, 0o755, mtime
            tar.addfile(folder_info)
            info = tarfile.TarInfo(HOST_JSON)
            info.size, info.mode, info.mtime = len(body), 0o644, mtime
            tar.addfile(info, io.BytesIO(body))
        _replaceable(output)
        os.replace(tmp, output)
    except OSError as exc:
        _remove(tmp)
        raise UserError(f"cannot write {output}: {exc.strerror or exc}") from exc
    except BaseException:
        _remove(tmp)
        raise
    return os.path.getsize(output)


def _replaceable(output: str) -> None:
    """Refuse, at the last moment too, to rename the archive over a device, FIFO or folder."""
    from gpudoctor.host.regular import NotRegular, replaceable

    try:
        replaceable(output)
    except NotRegular as exc:
        raise UserError(f"refusing to write the snapshot to {output}: it is {exc.kind}") from None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def take_snapshot(inner: Host, options: Any, output: str, redact: bool = True) -> Snapshot:
    """Diagnose `inner` once while recording, then write what was read to `output`."""
    started = time.monotonic()
    captured_at = inner.now()
    recorder = RecordingHost(inner)
    _doctor, statuses = diagnose(recorder, options)
    with recorder.lock:
        asked = {p: set(h) for p, h in recorder.paths.items()}
        contents = dict(recorder.contents)
    tree = Tree(inner, contents)
    # Reads first, so a file both read and merely listed keeps its content.
    for path in sorted(asked, key=lambda p: ("read" not in asked[p], p)):
        tree.capture(path, asked[path])
    redactor = Redactor(enabled=redact)
    _keep_read_fields_only(tree, recorder, redactor)
    if redact:
        _learn_identities(inner, tree, recorder, redactor)
    members = _redact_tree(tree, redactor)
    host_json = build_host_json(inner, recorder, tree, redactor, captured_at, statuses)
    size = write_archive(output, members, host_json, captured_at)
    return Snapshot(path=os.path.abspath(output), size=size, members=len(members) + 2,
                    seconds=time.monotonic() - started, host_json=host_json, statuses=statuses)
