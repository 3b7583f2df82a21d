"""Hostile snapshot archives: `gpudoctor --root EVIL.tar.gz` refuses each with one clear line.

A snapshot is something a stranger sends with a bug report, so unpacking must never write
outside a private temporary folder, never follow a link out of it, never create device files,
and never let a few kilobytes expand into gigabytes. Each archive here is built byte for byte,
then handed to the real CLI with its own TMPDIR, and afterwards that TMPDIR must be empty (the
temporary root was removed) and nothing may have appeared beside the archive or above it.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from gpudoctor.host import archive
from tests.support.cli import run_gpudoctor, validate_report

ZEROS_MIB = bytes(1024 * 1024)


def _member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"",
            linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname, info.mode = kind, len(data), linkname, 0o644
    info.mtime = 1_790_000_000
    return info, data


def write_tar_gz(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    """A gzip'd tar holding exactly these members, names and link targets untouched."""
    with gzip.open(path, "wb") as gz, tarfile.open(fileobj=gz, mode="w",
                                                   format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def gzip_of_zeros(mib: int) -> bytes:
    """`mib` MiB of zeros as one gzip stream of concatenated members (built in milliseconds)."""
    one = gzip.compress(ZEROS_MIB, compresslevel=9)
    return one * mib


def _os_release_root() -> list[tuple[tarfile.TarInfo, bytes]]:
    body = b'PRETTY_NAME="Snapshot Linux 1"\nID=snaplinux\n'
    return [_member("etc", tarfile.DIRTYPE), _member("usr/lib/os-release", data=body)]


# ----- the hostile archives ----------------------------------------------------------------------
def absolute_member(path: Path) -> Path:
    return write_tar_gz(path, [*_os_release_root(), _member("/tmp/gd-snapshot-escape",
                                                            data=b"pwned\n")])


def dotdot_member(path: Path) -> Path:
    return write_tar_gz(path, [*_os_release_root(), _member("etc/../../gd-snapshot-escape",
                                                            data=b"pwned\n")])


def link_out_of_root(path: Path) -> Path:
    return write_tar_gz(path, [
        *_os_release_root(),
        _member("etc/passwd", tarfile.SYMTYPE, linkname="../../../../etc/passwd"),
    ])


def link_out_through_a_link(path: Path) -> Path:
    # Lexically `a/b/c/../../../x` stays inside; physically `a` is the root itself, so the
    # link would lead one level above it. Only a check of the real path catches this.
    return write_tar_gz(path, [
        *_os_release_root(),
        _member("a", tarfile.SYMTYPE, linkname="."),
        _member("a/b/c/escape", tarfile.SYMTYPE, linkname="../../../gd-snapshot-escape"),
        _member("a/b/c/escape/pwned", data=b"pwned\n"),
    ])


def hard_link(path: Path) -> Path:
    return write_tar_gz(path, [*_os_release_root(),
                               _member("etc/shadow", tarfile.LNKTYPE, linkname="/etc/shadow")])


def char_device(path: Path) -> Path:
    info, data = _member("dev/kfd", tarfile.CHRTYPE)
    info.devmajor, info.devminor = 1, 3  # /dev/null's numbers
    return write_tar_gz(path, [*_os_release_root(), (info, data)])


def fifo(path: Path) -> Path:
    return write_tar_gz(path, [*_os_release_root(), _member("run/pipe", tarfile.FIFOTYPE)])


def declared_huge_file(path: Path) -> Path:
    """A regular file that declares 64 GiB, followed by a run of zeros."""
    info, _ = _member("var/lib/dpkg/status")
    info.size = 64 * 1024 ** 3
    path.write_bytes(gzip.compress(info.tobuf(tarfile.GNU_FORMAT)) + gzip_of_zeros(64))
    return path


def pax_header_bomb(path: Path) -> Path:
    """A pax header declaring 2 GiB over 700 MiB of zeros: tarfile alone reads it into memory."""
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = tarfile.XHDTYPE, 2 * 1024 ** 3
    path.write_bytes(gzip.compress(info.tobuf(tarfile.USTAR_FORMAT)) + gzip_of_zeros(700))
    return path


def gzip_of_zeros_only(path: Path) -> Path:
    """1 GiB of zeros in a 1 MiB file: no tar header at all."""
    path.write_bytes(gzip_of_zeros(1024))
    return path


def too_many_members(path: Path) -> Path:
    """One empty file header repeated past the member limit (a few hundred KiB compressed)."""
    header = _member("etc/x")[0].tobuf(tarfile.USTAR_FORMAT)
    count = archive.MAX_MEMBERS + 1
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: gzip framing
    with open(path, "wb") as fh:
        chunk = header * 1000
        for _ in range(count // 1000):
            fh.write(comp.compress(chunk))
        fh.write(comp.compress(header * (count % 1000) + bytes(1024)))
        fh.write(comp.flush())
    return path


def not_an_archive(path: Path) -> Path:
    path.write_text("this is a bug report, not an archive\n")
    return path


def truncated(path: Path) -> Path:
    good = write_tar_gz(path, [*_os_release_root(),
                               _member("usr/share/misc/pci.ids", data=os.urandom(200_000))])
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


HOSTILE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "absolute member": (absolute_member, "absolute path"),
    "dot-dot member": (dotdot_member, "`..` climbs out of the root"),
    "link out of the root": (link_out_of_root, "leaves the root"),
    "link out through a link": (link_out_through_a_link, "refusing archive member 'a/b/c/escape'"),
    "hard link": (hard_link, "hard link"),
    "char device": (char_device, "device or fifo"),
    "fifo": (fifo, "device or fifo"),
    "declared 64 GiB file": (declared_huge_file, "unpacks to more than 512 MiB"),
    "pax header bomb": (pax_header_bomb, "decompression bomb"),
    "gzip of zeros": (gzip_of_zeros_only, "holds no files"),
    "too many members": (too_many_members, f"more than {archive.MAX_MEMBERS} members"),
    "not an archive": (not_an_archive, "it is not a tar archive (plain, gzip, bzip2 or xz)"),
    "truncated": (truncated, "is corrupt"),
}


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_archive_is_refused_in_one_line(case: str, tmp_path: Path) -> None:
    build, expected = HOSTILE[case]
    evidence = tmp_path / "evidence"  # where the archive lies, as a person saves it
    evidence.mkdir()
    temp = tmp_path / "tmp"  # gpudoctor's only scratch space
    temp.mkdir()
    work = tmp_path / "cwd"
    work.mkdir()
    bad = build(evidence / "snapshot.tar.gz")
    before = _tree(tmp_path)
    started = time.monotonic()
    run = run_gpudoctor("--json", "--root", bad, env={"TMPDIR": str(temp)}, cwd=work)
    elapsed = time.monotonic() - started
    assert run.returncode == 2, (run.returncode, run.stderr, run.stdout[:500])
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("gpudoctor: error: "), lines
    assert expected in lines[0], lines[0]
    # Nothing written anywhere: the temp root is gone, no file beside or above the archive.
    assert list(temp.iterdir()) == []
    assert _tree(tmp_path) == before
    assert not (tmp_path.parent / "gd-snapshot-escape").exists()
    assert not Path("/tmp/gd-snapshot-escape").exists()
    assert elapsed < 20, f"refusing {case} took {elapsed:.1f} s"


def test_pax_bomb_is_refused_without_reading_it(tmp_path: Path) -> None:
    """Refused within a second and without allocating the declared gigabytes."""
    bad = pax_header_bomb(tmp_path / "bomb.tar.gz")
    assert bad.stat().st_size < 2 * 1024 * 1024  # a small download...
    started = time.monotonic()
    kept: list[str] = []
    with pytest.raises(archive.UserError, match="decompression bomb"):
        archive.unpack(str(bad), kept.append)
    assert time.monotonic() - started < 6.0  # ...that used to take a minute and 3 GB of RAM


def test_absolute_links_resolve_inside_the_root(tmp_path: Path) -> None:
    """A tar of a chroot has links such as etc/os-release -> /usr/lib/os-release: chroot rules."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    good = write_tar_gz(tmp_path / "chroot.tar.gz", [
        *_os_release_root(),
        _member("etc/os-release", tarfile.SYMTYPE, linkname="/usr/lib/os-release"),
        _member("etc/alternatives", tarfile.SYMTYPE, linkname="/../../usr/lib"),
    ])
    run = run_gpudoctor("--json", "--root", good, env={"TMPDIR": str(temp)})
    assert run.returncode in (0, 1), run.stderr
    report = validate_report(run.json)
    assert report["host"]["os"] == "Snapshot Linux 1"
    assert report["host"]["root"] == str(good)
    assert list(temp.iterdir()) == []  # the unpacked root is removed when gpudoctor exits

    kept: list[str] = []
    folder = archive.unpack(str(good), kept.append)
    assert kept == [folder]
    try:
        assert os.readlink(f"{folder}/etc/os-release") == "../usr/lib/os-release"
        assert os.readlink(f"{folder}/etc/alternatives") == "../usr/lib"
        assert os.path.realpath(f"{folder}/etc/alternatives/os-release").startswith(folder)
    finally:
        import shutil

        shutil.rmtree(folder)


def test_missing_archive_is_a_one_line_error(tmp_path: Path) -> None:
    run = run_gpudoctor("--root", tmp_path / "nope.tar.gz")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        f"gpudoctor: error: --root {tmp_path / 'nope.tar.gz'}: no such folder or archive"]
