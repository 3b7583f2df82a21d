"""pciids.update against a real HTTP server on 127.0.0.1: a good file, a truncated one, a huge
one, gzip, nothing at all (404, connection refused, a server that stalls). After each, the file
on disk is checked: replaced atomically with a backup, or left byte-identical."""

from __future__ import annotations

import gzip
import os
import socket
import stat
import subprocess
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gpudoctor import fixer
from gpudoctor.facts import Options
from gpudoctor.host.live import LiveHost
from gpudoctor.report import Doctor
from tests.support.cli import run_gpudoctor
from tests.support.hostroot import HostRootBuilder

UPDATE = "pciids.update"
HUGE = 17 * 1024 * 1024



def pci_ids_text(tmp: Path, version: str, date: str) -> bytes:
    builder = HostRootBuilder(tmp)
    builder.write_pci_ids("/pci.ids", version=version, date=date)
    return (tmp / "pci.ids").read_bytes()


class Server:
    """A real HTTP server in a thread; `routes` maps a path to (status, body, headers)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes | None, dict[str, str]]] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body, headers = routes.get(self.path, (404, b"not found\n", {}))
                if self.path == "/stall":
                    self.send_response(200)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    self.wfile.write(b"#\tVersion: 2026.01.01\n")
                    self.wfile.flush()
                    time.sleep(5)
                    return
                if self.path == "/endless":
                    self.send_response(200)
                    self.end_headers()  # no Content-Length: the cap must stop the stream
                    chunk = b"ffff  filler vendor line\n" * 4096
                    try:
                        for _ in range(HUGE // len(chunk) + 10):
                            self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("pciids")
    good = pci_ids_text(tmp / "good", "2025.06.21", "2025-06-21 17:54:14")
    old = pci_ids_text(tmp / "old", "2023.04.10", "2023-04-10 03:15:01")
    older = pci_ids_text(tmp / "older", "2021.01.01", "2021-01-01 00:00:00")
    class_at = good.index(b"\nC ff")
    return {"good": good, "old": old, "older": older,
            "no-classes": good[: good.index(b"\nC 00") + 1],
            "cut-in-classes": good[:class_at + 1],
            "cut-mid-line": good[:-7]}


@pytest.fixture(scope="module")
def server(files) -> Server:
    srv = Server()
    srv.routes["/pci.ids"] = (200, files["good"], {})
    srv.routes["/pci.ids.gz"] = (200, gzip.compress(files["good"]), {})
    srv.routes["/older"] = (200, files["older"], {})
    for name in ("no-classes", "cut-in-classes", "cut-mid-line"):
        srv.routes[f"/{name}"] = (200, files[name], {})
    srv.routes["/huge"] = (200, b"x" * HUGE, {})
    srv.routes["/html"] = (200, b"<html><body>Moved</body></html>\n", {})
    yield srv
    srv.close()


@pytest.fixture
def target(tmp_path, files) -> Path:
    path = tmp_path / "share" / "pci.ids"
    path.parent.mkdir()
    path.write_bytes(files["old"])
    path.chmod(0o640)
    return path


def update(target: Path, url: str, **extra) -> tuple[fixer.ApplyResult, list[str], fixer.Plan]:
    options = {"pciids_url": url, "pciids_path": str(target), **extra}
    doctor = Doctor(LiveHost(), Options())
    [plan] = fixer.plan_fixes(doctor, [UPDATE], options)
    lines: list[str] = []
    if plan.blocked:
        return fixer.ApplyResult(skipped=[UPDATE]), lines, plan
    return fixer.apply_plans(doctor, [plan], options, lines.append), lines, plan


def backups(target: Path) -> list[Path]:
    return sorted(target.parent.glob(f"{target.name}.gpudoctor-*.bak"))


def test_a_good_file_replaces_the_old_one_with_a_backup(server, target, files):
    result, lines, _ = update(target, server.url("/pci.ids"))
    assert result.ok and result.applied == [UPDATE], (result, lines)
    assert target.read_bytes() == files["good"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    [backup] = backups(target)
    assert backup.read_bytes() == files["old"]
    text = "\n".join(lines)
    assert "-#\tVersion: 2023.04.10" in text and "+#\tVersion: 2025.06.21" in text
    assert "Version 2023.04.10 -> 2025.06.21" in text
    # The same file again: nothing to do, nothing written.
    stamp = target.stat().st_mtime_ns
    result, lines, _ = update(target, server.url("/pci.ids"))
    assert result.ok and result.unchanged == [UPDATE]
    assert "already identical" in "\n".join(lines)
    assert target.stat().st_mtime_ns == stamp and len(backups(target)) == 1


def test_a_gzip_download_is_unpacked(server, target, files):
    result, _, _ = update(target, server.url("/pci.ids.gz"))
    assert result.ok
    assert target.read_bytes() == files["good"]


@pytest.mark.parametrize(("path", "reason"), [
    ("/no-classes", "no class section"),
    ("/cut-in-classes", "stops before the last class"),
    ("/cut-mid-line", "last line is cut off"),
    ("/html", "no `# Version:` header"),
])
def test_an_incomplete_file_is_refused(server, target, files, path, reason):
    result, _, _ = update(target, server.url(path))
    assert result.failed == UPDATE
    assert reason in result.error and "was left as it is" in result.error
    assert target.read_bytes() == files["old"]
    assert not backups(target)


def test_a_huge_file_is_refused_by_its_length_or_by_the_cap(server, target, files):
    result, _, _ = update(target, server.url("/huge"))
    assert result.failed == UPDATE and "more than the 16777216-byte cap" in result.error
    result, _, _ = update(target, server.url("/endless"))
    assert result.failed == UPDATE and "sent more than the 16777216-byte cap" in result.error
    assert target.read_bytes() == files["old"]
    assert not backups(target)


def test_nothing_there(server, target, files):
    result, _, _ = update(target, server.url("/missing"))
    assert result.error == f"{server.url('/missing')} answered HTTP 404 Not Found"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    result, _, _ = update(target, f"http://127.0.0.1:{closed}/pci.ids")
    assert result.failed == UPDATE and "Connection refused" in result.error
    started = time.monotonic()
    result, _, _ = update(target, server.url("/stall"), pciids_timeout=1)
    assert result.failed == UPDATE and "1 s" in result.error
    assert time.monotonic() - started < 5
    assert target.read_bytes() == files["old"]
    assert not backups(target)


def test_an_older_file_never_replaces_a_newer_one(server, target, files):
    result, _, _ = update(target, server.url("/older"))
    assert result.failed == UPDATE and "older than" in result.error
    assert target.read_bytes() == files["old"]


def test_read_only_or_package_owned_files_are_refused_with_the_reason(server, target, files):
    target.chmod(0o444)
    _, _, plan = update(target, server.url("/pci.ids"))
    assert "made read-only on purpose" in plan.blocked
    assert target.read_bytes() == files["old"]
    owned = "/etc/debian_version"
    owner = subprocess.run(["dpkg-query", "-S", owned], capture_output=True, text=True)
    assert owner.returncode == 0, "the test machine's dpkg should own /etc/debian_version"
    before = Path(owned).read_bytes()
    _, _, plan = update(Path(owned), server.url("/pci.ids"))
    assert f"belongs to the package {owner.stdout.split(':')[0]} (dpkg)" in plan.blocked
    assert "package manager would overwrite" in plan.blocked
    assert Path(owned).read_bytes() == before


def test_plain_http_is_named_in_the_plan(server, target):
    doctor = Doctor(LiveHost(), Options())
    [plan] = fixer.plan_fixes(doctor, [UPDATE], {"pciids_url": server.url("/pci.ids"),
                                                 "pciids_path": str(target)})
    assert any("plain HTTP" in n for n in plan.notes)
    [https_plan] = fixer.plan_fixes(doctor, [UPDATE], {"pciids_path": str(target)})
    assert "https://pci-ids.ucw.cz/v2.2/pci.ids" in fixer.render_plan([https_plan])


@pytest.mark.machine
def test_cli_updates_the_hosts_pci_ids_and_the_check_sees_it(server, tmp_path):
    """End to end on the live host's own pci.ids path, put back afterwards."""
    now = datetime.now(timezone.utc)
    fresh = pci_ids_text(tmp_path / "fresh", now.strftime("%Y.%m.%d"),
                         now.strftime("%Y-%m-%d %H:%M:%S"))
    server.routes["/fresh"] = (200, fresh, {})
    path = Path("/usr/share/misc/pci.ids")
    before = path.read_bytes() if path.exists() else None
    owned = subprocess.run(["dpkg-query", "-S", str(path)], capture_output=True).returncode == 0
    try:
        run = run_gpudoctor("fix", UPDATE, "--pciids-url", server.url("/fresh"), "--yes")
        if owned:
            assert run.returncode == 1 and "belongs to the package" in run.stdout
            assert path.read_bytes() == before
            return
        assert run.returncode == 0, run.stdout + run.stderr
        assert path.read_bytes() == fresh
        assert "applied pciids.update" in run.stdout
        assert "pciids.fresh: warn -> pass" in run.stdout or before is not None
    finally:
        for leftover in path.parent.glob("pci.ids.gpudoctor-*.bak"):
            leftover.unlink()
        if before is None:
            if path.exists():
                path.unlink()
        else:
            path.write_bytes(before)
    assert os.path.exists(path) == (before is not None)
