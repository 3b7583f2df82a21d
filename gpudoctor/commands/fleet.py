"""`gpudoctor fleet [REPORT|DIR|-]... [--hosts FILE] [--json]`: many reports, one summary.

Exit codes: 0 every report read and no host fails; 1 a host fails, or a report is missing
or unreadable; 2 a path that does not exist or a --hosts file that cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys

from gpudoctor.errors import UserError
from gpudoctor.fleet.reader import read_all, read_hosts
from gpudoctor.fleet.summary import exit_code, summarize


def run(args: argparse.Namespace) -> int:
    if not args.reports and sys.stdin.isatty():
        raise UserError("fleet reads reports: give report files or folders, or pipe JSON lines "
                        "(one `gpudoctor --json` report a line) into it")
    expected = read_hosts(args.hosts) if args.hosts else None
    # A generator: each report is summarized and dropped, so 10,000 reports never sit in
    # memory at once (and the garbage collector has little to walk).
    summary = summarize(read_all(list(args.reports), sys.stdin), expected)
    if args.json:
        sys.stdout.write(json.dumps(summary, indent=1) + "\n")
    else:
        from gpudoctor.fleet.render import render

        sys.stdout.write(render(summary))
    return exit_code(summary)
