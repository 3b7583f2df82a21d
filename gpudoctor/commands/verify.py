"""`gpudoctor verify`: start a short-lived container with the GPUs and say what it saw.

Exit codes: 0 the container got what it needs (pass, or warn); 1 something failed (the
daemon refused the container, a device did not open, nvidia-smi saw nothing, or no Docker);
2 a bad command line, or no image to run without --pull (nothing about the host was learnt,
the person must decide to pull or name an image); 130/143 interrupted by SIGINT/SIGTERM, after
the container was removed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import textwrap

from gpudoctor import TYPE_CHECKING
from gpudoctor.cli import options_from
from gpudoctor.commands.common import print_json
from gpudoctor.errors import UserError

if TYPE_CHECKING:
    from typing import TextIO

    from gpudoctor.verify import VerifyResult


def run(args: argparse.Namespace) -> int:
    from gpudoctor.facts import Facts
    from gpudoctor.host import open_host
    from gpudoctor.verify import (
        Interrupts,
        VerifyInterrupted,
        VerifyRequest,
        run_verification,
    )

    if args.root is not None:
        raise UserError("verify starts a real container on this host's Docker daemon; it "
                        "cannot verify a host root (drop --root)")
    if args.image is not None and not args.image.strip():
        raise UserError("--image needs an image name")
    facts = Facts(open_host(None), options_from(args))
    request = VerifyRequest(args=list(args.docker_args) if args.docker_args else None,
                            image=args.image, compose=bool(args.compose), pull=bool(args.pull),
                            engine=getattr(args, "engine", None))

    def progress(line: str) -> None:
        if not args.json and sys.stderr.isatty():
            sys.stderr.write(f"gpudoctor verify: {line}\n")

    interrupts = Interrupts()
    with interrupts.installed():
        try:
            result = run_verification(facts, request, interrupts=interrupts, progress=progress)
        except VerifyInterrupted as exc:
            what = "SIGTERM" if exc.signum == signal.SIGTERM else "Ctrl-C"
            if exc.container and exc.removed:
                tail = f"; the container {exc.container} was removed"
            elif exc.container:
                tail = (f"; the container {exc.container} may be left: remove it with "
                        f"`docker rm -f {exc.container}`")
            else:
                tail = "; no container had been started"
            sys.stderr.write(f"gpudoctor: interrupted by {what}{tail}\n")
            return 143 if exc.signum == signal.SIGTERM else 130
    if args.json:
        print_json(result.to_json())
    else:
        sys.stdout.write(render(result, verbose=args.verbose, stream=sys.stdout,
                                colour=False if args.no_color else None))
    return result.exit_code


def _indent(text: str, prefix: str, width: int = 100) -> list[str]:
    lines: list[str] = []
    for para in text.splitlines():
        if para.strip():
            lines.extend(textwrap.wrap(para, width=width - len(prefix), initial_indent=prefix,
                                       subsequent_indent=prefix, break_long_words=False,
                                       break_on_hyphens=False))
    return lines


def render(result: VerifyResult, verbose: bool = False, stream: TextIO | None = None,
           colour: bool | None = None) -> str:
    """The verification for a person: what ran, one line per item, then the cause."""
    from gpudoctor.textreport import Painter

    painter = Painter(stream or sys.stdout, colour)
    lines: list[str] = []
    how = "a compose file" if result.method == "compose" else result.engine
    image = ""
    if result.image:
        where = "present locally" if result.image_source == "present" else result.image_source
        image = f", image {result.image} ({where})"
    lines.append(painter.bold(f"gpudoctor verify: {how} on {result.endpoint or '?'}{image}"))
    source = f"the report's run_args.{result.engine}" if result.args_source == "report" else \
        "your arguments"
    lines.append(f"  arguments ({source}): {' '.join(result.args) or '(none)'}")
    if result.dropped:
        lines.append(f"  left out (verify sets these itself): {' '.join(result.dropped)}")
    if verbose and result.compose and result.compose.get("file"):
        lines.append("  compose file:")
        lines.extend("    " + ln for ln in result.compose["file"].splitlines())
    lines.append("")
    for item in result.items:
        status = item.status if item.status in ("pass", "warn", "fail", "skip") else "skip"
        lines.append(f"{painter.mark(status)} {item.summary}")
        if verbose:
            lines.extend(_indent("\n".join(item.evidence), prefix="      "))
    if result.items:
        lines.append("")
    verdict = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "error": "NOT RUN"}[
        result.verdict]
    mark = {"pass": "pass", "warn": "warn", "fail": "fail", "error": "error"}[result.verdict]
    lines.append(f"{painter.mark(mark)} {painter.bold(verdict)}: {result.summary}")
    cause = result.cause
    if cause is not None:
        if cause.summary and cause.summary != result.summary:
            lines.append(f"    cause: {cause.summary}")
        if result.error:
            lines.append(f"    daemon said: {result.error}")
        if cause.details:
            lines.append("    why:")
            lines.extend(_indent(cause.details, prefix="      "))
        if cause.remedy:
            lines.append("    do:")
            lines.extend(_indent(cause.remedy, prefix="      "))
        related = []
        if cause.checks:
            related.append("checks " + ", ".join(cause.checks))
        if cause.fixes:
            related.append("fixes " + ", ".join(cause.fixes))
        if related:
            lines.append(f"    see: {'; '.join(related)}")
    elif result.error:
        lines.append(f"    daemon said: {result.error}")
    return "\n".join(lines) + "\n"
