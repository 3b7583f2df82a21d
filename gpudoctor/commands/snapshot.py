"""`gpudoctor snapshot`: write what the diagnosis reads into one archive for a bug report.

`gpudoctor --root ARCHIVE` on any machine then gives the same diagnosis. `--root` here
re-captures a root or another snapshot (handy to redact one before sharing it).
"""

from __future__ import annotations

import argparse
import os
import sys

from gpudoctor.cli import options_from
from gpudoctor.commands.common import print_json
from gpudoctor.errors import UserError
from gpudoctor.host import open_host


def human_size(size: int) -> str:
    """412 bytes, 3.4 KiB, 1.2 MiB."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def choose_output(requested: str | None) -> str:
    """The archive to write: -o FILE (new, or a regular file to replace), or a default name in
    the current folder. Anything else at FILE (a folder, device, FIFO, socket or link) is
    refused: the snapshot never replaces or writes through what is not a plain file."""
    from gpudoctor.host.regular import NotRegular, replaceable
    from gpudoctor.snapshot import default_output

    if not requested:
        return default_output()
    if os.path.isdir(requested) and not os.path.islink(requested):
        raise UserError(f"refusing to write the snapshot to {requested}: it is a folder; give "
                        f"a file name, e.g. -o {os.path.join(requested, 'snapshot.tar.gz')}")
    folder = os.path.dirname(os.path.abspath(requested))
    if not os.path.isdir(folder):
        raise UserError(f"cannot write {requested}: the folder {folder} does not exist")
    try:
        replaceable(requested)
    except NotRegular as exc:
        raise UserError(f"refusing to write the snapshot to {requested}: it is {exc.kind}; "
                        "give a new file name or an existing regular file") from None
    return requested


def give_to_invoking_user(path: str) -> None:
    """Under sudo, the person who typed the command owns the archive they will attach."""
    uid, gid = os.environ.get("SUDO_UID", ""), os.environ.get("SUDO_GID", "")
    if os.geteuid() != 0 or not uid.isdigit():
        return
    try:
        os.chown(path, int(uid), int(gid) if gid.isdigit() else -1)
    except OSError:
        pass  # a root-squashed or foreign filesystem: root keeps it, which still works


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def run(args: argparse.Namespace) -> int:
    from gpudoctor.deadline import overall_deadline, overall_seconds
    from gpudoctor.snapshot import MAX_FILE, take_snapshot

    output = choose_output(getattr(args, "output", None))
    options = options_from(args)
    host = open_host(args.root)
    with overall_deadline(overall_seconds(options.check_timeout), "the snapshot"):
        snap = take_snapshot(host, options, output,
                             redact=not getattr(args, "no_redact", False))
    give_to_invoking_user(snap.path)
    if args.json:
        print_json(snap.summary())
        return 0
    doc = snap.host_json
    shown = os.path.relpath(snap.path) if not os.path.isabs(output) else snap.path
    out = sys.stdout
    out.write(f"Wrote {shown} ({human_size(snap.size)}, {snap.members} entries, "
              f"{snap.seconds:.1f} s)\n")
    redacted = doc.get("redacted", [])
    if doc.get("redaction"):
        kinds: dict[str, int] = {}
        for item in redacted:
            kinds[item["what"]] = kinds.get(item["what"], 0) + 1
        if kinds:
            listed = ", ".join(f"{what} ({_plural(n, 'place')})"
                               for what, n in sorted(kinds.items()))
            out.write(f"  Redacted: {listed}; .gpudoctor/host.json lists where.\n")
        else:
            out.write("  Redacted: nothing identifying was found.\n")
    else:
        out.write("  Not redacted (--no-redact): it may hold hostnames, serial numbers, GPU "
                  "UUIDs and credentials; share it with care.\n")
    unreadable = doc.get("unreadable", [])
    if unreadable:
        out.write(f"  Could not read {_plural(len(unreadable), 'path')} (recorded as unreadable"
                  f"; run as root to include them): "
                  + ", ".join(u["path"] for u in unreadable[:5])
                  + (" ..." if len(unreadable) > 5 else "") + "\n")
    omitted = doc.get("omitted", [])
    if omitted:
        out.write(f"  Left out (over {MAX_FILE // (1024 * 1024)} MiB or over the total limit): "
                  + ", ".join(o["path"] for o in omitted) + "\n")
    out.write(f"Diagnose it anywhere with: gpudoctor --root {shown}\n")
    return 0
