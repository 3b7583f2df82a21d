"""`gpudoctor check` (and `gpudoctor --json`): run every check and print the report.

`--format prometheus|nagios` turns the same report into what monitoring reads
(gpudoctor/formats); `-o FILE` writes it atomically, so a reader never sees half a file.
"""

from __future__ import annotations

import argparse
import json
import sys

from gpudoctor.commands.common import make_doctor
from gpudoctor.errors import GpudoctorError, UserError


def _format(args: argparse.Namespace) -> str:
    fmt = getattr(args, "format", None)
    if args.json and fmt not in (None, "json"):
        raise UserError(f"--json and --format {fmt} ask for two formats: give one")
    return fmt or ("json" if args.json else "text")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "format", None) == "nagios":
        return _nagios(args)
    fmt = _format(args)
    doctor = make_doctor(args)
    doctor.timings = bool(getattr(args, "timings", False))
    doctor.run()
    report = doctor.report()
    output = getattr(args, "output", None)
    if fmt == "json":
        text = json.dumps(report, indent=2, sort_keys=False) + "\n"
        if not output:
            sys.stdout.write(text)  # what print_json writes, without encoding it twice
    elif fmt == "prometheus":
        from gpudoctor.formats.prometheus import render as prometheus

        text = prometheus(report).decode()
        if not output:
            sys.stdout.write(text)
    else:
        from gpudoctor.textreport import render

        colour = False if (args.no_color or output) else None
        text = render(report, verbose=args.verbose, stream=sys.stdout, colour=colour)
        if not output:
            sys.stdout.write(text)
    if output:
        write_output(output, text.encode())
    return doctor.exit_code()


def write_output(path: str, data: bytes) -> None:
    """Replace `path` atomically (temporary file in the same folder, then rename)."""
    import os

    from gpudoctor.host.safefile import atomic_write

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"-o {path}: the folder {folder} does not exist")
    try:
        atomic_write(path, data, backup=False, make_parents=False, new_file_mode=0o644)
    except GpudoctorError as exc:
        raise UserError(f"-o {path}: {exc}") from exc


def _nagios(args: argparse.Namespace) -> int:
    """Plugin mode: every outcome, even gpudoctor failing, is one line and codes 0-3."""
    from gpudoctor.formats import nagios

    try:
        _format(args)
        doctor = make_doctor(args)
        doctor.run()
        code, line = nagios.render(doctor.report())
    except Exception as exc:  # a probe that cannot run is UNKNOWN, never a traceback
        code, line = nagios.UNKNOWN, nagios.unknown(str(exc) or type(exc).__name__)
    output = getattr(args, "output", None)
    if output:
        write_output(output, (line + "\n").encode())
    else:
        sys.stdout.write(line + "\n")
    return code
