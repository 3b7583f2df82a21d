"""`gpudoctor compose FILE`: judge a compose file's GPU parts against this host (or a root).

Prints each finding with file:line:column, what was seen, why it breaks and what to do, then the
corrected file as a diff. The file is written only with `--write`: atomically, keeping a backup,
comments and layout. Exit 0 when nothing fails, 1 when something does, 2 for a bad file.
"""

from __future__ import annotations

import argparse
import sys

from gpudoctor import TYPE_CHECKING
from gpudoctor.commands.common import make_doctor, print_json

if TYPE_CHECKING:
    from typing import Any

SCHEMA_ID = "gpudoctor.compose/1"


def run(args: argparse.Namespace) -> int:
    from gpudoctor.compose.correct import corrected_text, diff
    from gpudoctor.compose.host import compose_host
    from gpudoctor.compose.judge import judge
    from gpudoctor.compose.load import read
    from gpudoctor.plugin import Status

    compose = read(args.file)
    doctor = make_doctor(args)
    facts = doctor.fresh_facts()
    findings = judge(compose, compose_host(facts))
    new_text = corrected_text(compose, findings) if any(f.edits for f in findings) else \
        compose.text
    patch = diff(compose, new_text)
    written = None
    if args.write and patch:
        from gpudoctor.host.safefile import atomic_write

        written = atomic_write(compose.path, new_text.encode("utf-8"), backup=True)
    failed = any(f.status is Status.FAIL for f in findings)
    if args.json:
        print_json(_document(compose.path, doctor.host.describe(), findings, patch, written))
    else:
        sys.stdout.write(_text(compose.path, doctor.host.describe(), findings, patch, written,
                               args))
    return 1 if failed else 0


def _document(path: str, host: str, findings: list[Any], patch: str, written: Any) -> dict:
    return {"schema": SCHEMA_ID, "file": path, "host": host,
            "findings": [f.to_json(path) for f in findings], "diff": patch,
            "written": bool(written), "backup": written.backup if written else None}


def _text(path: str, host: str, findings: list[Any], patch: str, written: Any,
          args: argparse.Namespace) -> str:
    from gpudoctor.textreport import Painter

    paint = Painter(sys.stdout, False if args.no_color else None)
    out = [f"{path} judged against {host}:"]
    if not findings:
        out.append("  nothing in its GPU parts stands in the way on this host.")
    for f in findings:
        out.append(f"  {paint.mark(f.status.value)} {f.where(path)} service {f.service}: "
                   f"{f.summary}")
        out.append(f"      {f.details}")
        if f.remedy:
            out.append(f"      -> {f.remedy}")
        if f.checks:
            out.append(f"      host side: {', '.join(f.checks)}"
                       + (f"; gpudoctor can fix it: sudo gpudoctor fix {' '.join(f.fixes)}"
                          if f.fixes else ""))
    if patch:
        out += ["", "Corrected file:" if written else "Corrected fragment (as a diff):", ""]
        out += patch.rstrip("\n").splitlines()
        out.append("")
        if written:
            out.append(f"Wrote {written.path}" + (f" (the old file is kept as {written.backup})"
                                                 if written.backup else ""))
        else:
            out.append(f"Nothing was written: `gpudoctor compose {path} --write` writes it "
                       "(atomically, keeping a backup and your comments).")
    return "\n".join(out) + "\n"
