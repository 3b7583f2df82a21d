"""`gpudoctor explain [TEXT | -]` and `gpudoctor explain --container NAME|ID`.

The person brings the error they got (or the container that failed); gpudoctor names each known
cause in it, runs exactly the checks that confirm or rule each one out on this host (or a host
root), and says which it is, with the fix. Text it does not recognise is said to be unknown and
the full diagnosis runs instead. Exit 0 when no cause is confirmed, 1 when one is, 2 for bad input.
"""

from __future__ import annotations

import argparse
import sys

from gpudoctor import TYPE_CHECKING
from gpudoctor.commands.common import make_doctor, print_json
from gpudoctor.errors import UserError

if TYPE_CHECKING:
    from typing import Any

SCHEMA_ID = "gpudoctor.explain/1"
MARK = {"confirmed": "fail", "ruled out": "pass", "cannot tell here": "skip",
        "from the text": "warn"}


def read_text(args: argparse.Namespace) -> str:
    parts = list(args.text or [])
    if parts in ([], ["-"]):
        if sys.stdin is None or sys.stdin.isatty():
            raise UserError("paste the error after `gpudoctor explain`, or pipe it in: "
                            "`docker compose up 2>&1 | gpudoctor explain -`")
        from gpudoctor.explain.text import MAX_TEXT

        data = sys.stdin.buffer.read(MAX_TEXT)
        return data.decode("utf-8", errors="replace")
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    from gpudoctor.explain.judge import CONFIRMED, judge
    from gpudoctor.explain.text import find_causes

    doctor = make_doctor(args)
    if args.container:
        from gpudoctor.explain.container import explain_container

        result = explain_container(doctor, args.container)
        if args.json:
            print_json({"schema": SCHEMA_ID, **result.to_json()})
        else:
            sys.stdout.write(result.render(_painter(args)))
        return 1 if result.confirmed else 0
    text = read_text(args)
    if not text.strip():
        raise UserError("the text to explain is empty")
    candidates = find_causes(text)
    if not candidates:
        return _unknown(doctor, args)
    verdicts = judge(doctor, candidates)
    if args.json:
        print_json({"schema": SCHEMA_ID, "recognised": True, "host": doctor.host.describe(),
                    "causes": [v.to_json() for v in verdicts]})
    else:
        sys.stdout.write(render_verdicts(verdicts, doctor.host.describe(), _painter(args)))
    return 1 if any(v.verdict == CONFIRMED for v in verdicts) else 0


def _painter(args: argparse.Namespace) -> Any:
    from gpudoctor.textreport import Painter

    return Painter(sys.stdout, False if args.no_color else None)


def _unknown(doctor: Any, args: argparse.Namespace) -> int:
    """Nothing known in the text: say so (never guess) and run the full diagnosis."""
    doctor.run()
    report = doctor.report()
    if args.json:
        print_json({"schema": SCHEMA_ID, "recognised": False, "host": doctor.host.describe(),
                    "causes": [], "report": report})
        return doctor.exit_code()
    from gpudoctor.textreport import render

    sys.stdout.write("gpudoctor does not recognise an error it knows in this text, so it names "
                     "no cause (it never guesses). The full diagnosis of "
                     f"{doctor.host.describe()} follows.\n\n")
    sys.stdout.write(render(report, verbose=args.verbose, stream=sys.stdout,
                            colour=False if args.no_color else None))
    return doctor.exit_code()


def render_verdicts(verdicts: list[Any], host: str, paint: Any) -> str:
    """The explanation as text: each cause, its verdict here, the evidence and the fix."""
    n = len(verdicts)
    out = [f"Recognised {n} known error{'s' if n != 1 else ''} in the text; judged on {host}:",
           ""]
    for i, v in enumerate(verdicts, 1):
        c = v.cause
        out.append(f"{i}. {paint.mark(MARK[v.verdict])} {v.verdict}: {c.summary}")
        if c.matched:
            out.append(f"   seen: {c.matched}")
        if v.why:
            out.append(f"   here: {v.why}")
        for o in v.outcomes[1:]:
            out.append(f"   also {o.id}: {o.result.status.value}: {o.result.summary}")
        if v.verdict != "ruled out":
            if c.details:
                out.append(f"   why: {c.details}")
            if c.remedy:
                out.append(f"   what to do: {c.remedy}")
            commands = [cmd for o in v.outcomes[:1] for cmd in o.result.commands]
            for cmd in commands:
                out.append(f"     {cmd}")
            fixes = list(c.fixes)
            if fixes:
                out.append(f"   gpudoctor can fix it: sudo gpudoctor fix {' '.join(fixes)}")
        out.append("")
    return "\n".join(out)
