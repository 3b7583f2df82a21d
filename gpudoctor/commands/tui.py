"""`gpudoctor tui` (plain `gpudoctor` on a terminal): the interactive triage screen.

cli.main only gets here with a terminal on stdin and stdout (without one the TUI would draw on
stderr and never end). Quitting leaves the verdict line and the run line (or what blocks it) on
the terminal, and anything copied; the exit code is report.md's: 0 nothing failed, 1 a check
failed, 3 gpudoctor itself broke.
"""

from __future__ import annotations

import argparse
import os
import sys

from gpudoctor.commands.common import make_doctor

INTERNAL_ERROR = 3


def run(args: argparse.Namespace) -> int:
    doctor = make_doctor(args)  # a bad --root is reported by cli.main before Textual starts
    if getattr(args, "no_color", False):
        os.environ["NO_COLOR"] = "1"  # Textual reads it when the app is created
    from gpudoctor.tui.app import DoctorApp

    app = DoctorApp(doctor)
    result = app.run()
    if app.return_code not in (None, 0) and result is None:
        return INTERNAL_ERROR  # Textual printed the traceback of what broke
    # The screen is gone: leave the verdict and the run line (or what blocks it) behind.
    sys.stdout.write(app.farewell())
    sys.stdout.flush()
    return int(result if result is not None else app.exit_code())
