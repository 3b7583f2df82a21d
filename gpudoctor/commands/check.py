"""`gpudoctor check` (and `gpudoctor --json`): run every check and print the report."""

from __future__ import annotations

import argparse
import sys

from gpudoctor.commands.common import make_doctor, print_json


def run(args: argparse.Namespace) -> int:
    doctor = make_doctor(args)
    doctor.timings = bool(getattr(args, "timings", False))
    doctor.run()
    report = doctor.report()
    if args.json:
        print_json(report)
    else:
        from gpudoctor.textreport import render

        sys.stdout.write(render(report, verbose=args.verbose, stream=sys.stdout,
                                colour=False if args.no_color else None))
    return doctor.exit_code()
