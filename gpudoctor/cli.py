"""Command line: parse, then import only what the chosen command needs.

`gpudoctor --json` must not pay for Textual or requests, so every command lives in its own
module under gpudoctor.commands and is imported after parsing. Plain `gpudoctor` on a terminal
opens the TUI; without a terminal it prints the text report and never starts a TUI.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from gpudoctor import TYPE_CHECKING, __version__
from gpudoctor.errors import GpudoctorError, UserError
from gpudoctor.host.termination import held_back

if TYPE_CHECKING:
    from typing import Any

    from gpudoctor.facts import Options

COMMANDS = {
    "check": "run every check and print the report (the default without a terminal)",
    "list": "list every check and fix, and where each comes from",
    "devices": "show the GPUs and the exact docker run arguments for the selected ones",
    "fix": "plan and apply the fixes the failing checks offer",
    "snapshot": "capture what gpudoctor reads into an archive for bug reports",
    "verify": "start a short-lived container with the GPUs and check what it sees",
    "tui": "open the interactive triage screen (the default on a terminal)",
    "explain": "start from an error message or a container: name the cause and confirm it here",
    "compose": "judge a compose file's GPU parts against this host and print the corrections",
    "fleet": "summarize many hosts' --json reports: which checks fail where, and why",
}


def _terminal_columns() -> int:
    """shutil.get_terminal_size().columns without importing shutil (and bz2, lzma with it),
    which argparse's own formatter imports and asks for every argument added."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        stream = sys.__stdout__
        try:
            columns = os.get_terminal_size(stream.fileno()).columns if stream else 0
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter (descriptions kept as written), sized as argparse sizes it."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None):
        super().__init__(prog, indent_increment, max_help_position,
                         _terminal_columns() - 2 if width is None else width)


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line and exits 2.

    A command's parser gets its arguments (`fill`) only when it parses or shows help: adding
    all ten commands' options cost about 3 ms of every start, `gpudoctor --json`'s too.
    """

    def __init__(self, *args: Any, fill: Callable[[Parser], None] | None = None,
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._fill = fill

    def _filled(self) -> None:
        fill, self._fill = self._fill, None
        if fill is not None:
            fill(self)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._filled()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._filled()
        return super().format_usage()

    def format_help(self) -> str:
        self._filled()
        return super().format_help()

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"gpudoctor: error: {message} (see `gpudoctor --help`)\n")
        raise SystemExit(2)


#: The shared options each command takes (a command not listed takes them all). `list` reads
#: no host, so --gpu or --root would only mislead there.
COMMAND_OPTIONS: dict[str, frozenset[str]] = {
    "list": frozenset({"json"}),
    # verify takes --root only to say why a host root cannot be verified
    "verify": frozenset({"root", "json", "verbose", "gpu", "include_integrated", "timeout",
                         "no_color", "hsa_override", "rocm"}),
    "snapshot": frozenset({"root", "json", "gpu", "include_integrated", "timeout"}),
    "devices": frozenset({"root", "json", "gpu", "include_integrated", "timeout", "no_color",
                          "hsa_override", "rocm"}),
    "tui": frozenset({"root", "gpu", "include_integrated", "timeout", "no_color", "hsa_override",
                      "rocm"}),
}

EXIT_CODES = """exit codes:
  0    nothing failed (for `devices`: the arguments work as shown)
  1    at least one check failed (`fix`: a fix failed, or a check still fails;
       `devices`: the arguments work only once the blocking checks are fixed)
  2    the command line was wrong, or --root could not be read
  3    gpudoctor itself broke (set GPUDOCTOR_DEBUG=1 for a traceback)
  130  interrupted (Ctrl-C)

docs (in the gpudoctor repository): README.md, docs/checks.md (every check id),
docs/fixes.md (every fix id); the --json schema is gpudoctor/schema/report.schema.json."""


def _common(parser: argparse.ArgumentParser, top: bool,
            only: frozenset[str] | None = None) -> None:
    """Options every command takes, before or after the command name (`only`: the subset
    that applies to one command)."""
    default = None if top else argparse.SUPPRESS
    def wanted(name: str) -> bool:
        return only is None or name in only

    if wanted("root"):
        parser.add_argument("--root", metavar="DIR|ARCHIVE", default=default,
                            help="diagnose a host root or snapshot archive instead of this host")
    if wanted("json"):
        parser.add_argument("--json", action="store_true",
                            default=False if top else argparse.SUPPRESS,
                            help="print machine-readable JSON (schema: "
                                 "gpudoctor/schema/report.schema.json)")
    if wanted("verbose"):
        parser.add_argument("-v", "--verbose", action="store_true",
                            default=False if top else argparse.SUPPRESS,
                            help="show what each check looked at")
    if wanted("gpu"):
        parser.add_argument("--gpu", metavar="PCI", action="append",
                            default=[] if top else argparse.SUPPRESS,
                            help="select this GPU (repeatable), e.g. 0000:07:00.0")
    if wanted("include_integrated"):
        parser.add_argument("--include-integrated", action="store_true",
                            default=False if top else argparse.SUPPRESS,
                            help="also give containers the integrated GPUs")
    if wanted("hsa_override"):
        parser.add_argument("--hsa-override", action="store_true",
                            default=False if top else argparse.SUPPRESS,
                            help="add HSA_OVERRIDE_GFX_VERSION for AMD GPUs ROCm does not list "
                                 "(community workaround, off unless asked)")
    if wanted("rocm"):
        parser.add_argument("--rocm", metavar="LINE", default=None if top else argparse.SUPPRESS,
                            help="judge AMD gfx targets for images built on this ROCm release "
                                 "line, e.g. 6.4 (default: the newest gpudoctor knows)")
    if wanted("timeout"):
        parser.add_argument("--timeout", type=seconds, metavar="SECONDS",
                            default=None if top else argparse.SUPPRESS,
                            help="give up on a check after this long (default 20; when given, "
                                 "it applies to every check)")
    if wanted("no_color"):
        parser.add_argument("--no-color", action="store_true",
                            default=False if top else argparse.SUPPRESS, help="never use colour")
    if top or (only is not None and "timings" in only):
        parser.add_argument("--timings", action="store_true",
                            default=False if top else argparse.SUPPRESS,
                            help="add each check's duration_ms to the --json report")


DEFAULT_TIMEOUT = 20.0


def seconds(text: str) -> float:
    """--timeout's value: a positive, finite number of seconds (not inf, nan, 0 or -1)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a positive, finite number of seconds, such as 20 or 2.5")
    return value


def _output(parser: argparse.ArgumentParser, top: bool) -> None:
    """--format and -o for the report (the top level and `check`; docs/fleets.md)."""
    parser.add_argument("--format", dest="format", metavar="FORMAT",
                        choices=("text", "json", "prometheus", "nagios"),
                        default=None if top else argparse.SUPPRESS,
                        help="text, json, prometheus (node_exporter textfile) or nagios "
                             "(plugin exit codes and one status line)")
    parser.add_argument("-o", "--output", metavar="FILE", default=None if top else
                        argparse.SUPPRESS, help="write the report to FILE atomically "
                                                "(temporary file, then rename)")


def _check_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timings", action="store_true", default=argparse.SUPPRESS,
                   help="add each check's duration_ms to the --json report")

    p.add_argument("--smoke", action="store_true",
                   help="also start a container with the GPUs (docker.smoke)")
    _output(p, top=False)


def _fix_options(fix: argparse.ArgumentParser) -> None:
    fix.add_argument("fix_ids", nargs="*", metavar="FIX_ID",
                     help="run exactly these fixes (default: every fix the failing checks offer)")
    fix.add_argument("-y", "--yes", action="store_true", help="apply without asking")
    fix.add_argument("--dry-run", action="store_true", help="only show the plan")
    fix.add_argument("--bundle", metavar="PATH",
                     help="install nvidia-container-toolkit from this offline bundle "
                          "(a folder or the release .tar.gz of .deb/.rpm files)")
    fix.add_argument("--pciids-url", metavar="URL", help="where pciids.update downloads from")
    fix.add_argument("--smoke", action="store_true",
                     help="finish by starting a container with the GPUs (docker.smoke)")


def _snapshot_options(snap: argparse.ArgumentParser) -> None:
    snap.add_argument("-o", "--output", metavar="FILE",
                      help="archive to write (default: gpudoctor-snapshot-DATE-TIME.tar.gz)")
    snap.add_argument("--no-redact", action="store_true",
                      help="keep hostnames, serials, UUIDs and credentials in the archive "
                           "(never the logins of ~/.docker/config.json)")


def _verify_options(verify: argparse.ArgumentParser) -> None:
    verify.add_argument("--image", help="image to run (default: a small image already present)")
    verify.add_argument("--compose", action="store_true",
                        help="start it through a generated compose file instead of docker run")
    verify.add_argument("--pull", action="store_true", help="pull the image if it is missing")
    verify.add_argument("--engine", choices=("docker", "podman"),
                        help="the engine that runs the container (default: the one in use)")
    verify.add_argument("docker_args", nargs="*", metavar="-- ARGS",
                        help="docker run arguments to test instead of the report's")


def _explain_options(explain: argparse.ArgumentParser) -> None:
    explain.add_argument("text", nargs="*", metavar="TEXT",
                         help="the error text (`-` or nothing: read it from standard input)")
    explain.add_argument("--container", metavar="NAME|ID",
                         help="explain an existing container: its state, error, log and GPUs")


def _compose_options(compose: argparse.ArgumentParser) -> None:
    compose.add_argument("file", metavar="FILE", help="the compose file (compose.yaml)")
    compose.add_argument("--write", action="store_true",
                         help="write the corrected file (atomically, with a backup)")


def _fleet_options(fleet: argparse.ArgumentParser) -> None:
    fleet.add_argument("reports", nargs="*", metavar="REPORT|DIR|-",
                       help="report files (--json output), folders of *.json files, or - for "
                            "reports on stdin, one after another (the default when none is "
                            "given)")
    fleet.add_argument("--hosts", metavar="FILE",
                       help="the hosts expected, one a line: those without a report are listed "
                            "as missing")


#: Each command's own options, after the shared ones.
COMMAND_ARGUMENTS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "check": _check_options, "fix": _fix_options, "snapshot": _snapshot_options,
    "verify": _verify_options, "explain": _explain_options, "compose": _compose_options,
    "fleet": _fleet_options,
}


def _command_filler(name: str) -> Callable[[Parser], None]:
    def fill(p: Parser) -> None:
        _common(p, top=False, only=COMMAND_OPTIONS.get(name))
        own = COMMAND_ARGUMENTS.get(name)
        if own is not None:
            own(p)
    return fill


def build_parser() -> Parser:
    parser = Parser(prog="gpudoctor", formatter_class=Formatter,
                    epilog=EXIT_CODES, description=(
        "Find out why GPU containers cannot work on this Linux host, explain each problem, "
        "give the exact docker run arguments that work, and repair what is safe to repair."))
    parser.add_argument("--version", action="version", version=f"gpudoctor {__version__}")
    _common(parser, top=True)
    _output(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, text in COMMANDS.items():
        sub.add_parser(name, help=text, description=text, epilog=EXIT_CODES,
                       formatter_class=Formatter,
                       fill=_command_filler(name))
    return parser


def _interactive() -> bool:
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def choose_command(args: argparse.Namespace) -> str:
    if args.command:
        return args.command
    if args.json or getattr(args, "format", None) or getattr(args, "output", None) or (
            not _interactive()):
        return "check"
    return "tui"


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: unwind like Ctrl-C, so `finally` and atexit clean up (an unpacked
    --root archive, scratch folders) before gpudoctor exits with 128 + the signal number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, frame: object) -> None:
    if not held_back(signum):  # else raised again when the short step ends
        raise Terminated(signum)


def _clean_exit_on_termination() -> None:
    """SIGTERM/SIGHUP unwind the stack (commands with their own handlers replace these)."""
    import signal

    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            signal.signal(sig, _terminate)
        except (ValueError, OSError):  # not the main thread (gpudoctor used as a library)
            pass


def program() -> int:
    """The console script and `python -m gpudoctor`: `main()` in a process that ends with it.

    A run allocates what it needs once and drops it all at exit, so the cyclic garbage
    collector would only scan the same objects again and again (about 2.5 ms of a `--json`
    run); `main` turns it back on for the TUI, which runs as long as the person keeps it open.
    """
    import gc

    gc.disable()
    return _leave(main())


def _leave(code: int) -> int:
    """End the process at once when nothing is left to do at exit.

    The interpreter's own exit collects and frees every object of a run one by one, about
    7 ms of a `--json` run, for a process that is about to end anyway. Leaving with os._exit
    skips that, so it is used only when it loses nothing: standard output and error flushed,
    no atexit callbacks (an unpacked --root archive, scratch folders and coverage register
    theirs) and no other non-daemon thread still running. Otherwise the exit is the usual
    one, with the objects frozen so that its collections pass them over.
    """
    import atexit
    import gc

    pending = getattr(atexit, "_ncallbacks", lambda: 1)()  # CPython's count; else assume some
    threading = sys.modules.get("threading")
    others = threading is not None and any(
        t.is_alive() and not t.daemon and t is not threading.main_thread()
        for t in threading.enumerate())
    if not pending and not others:
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except (OSError, ValueError):
                pass  # a closed pipe or stream: what it held cannot be delivered any more
        os._exit(code)
    gc.freeze()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    from gpudoctor import encoding

    encoding.install()  # an ASCII or latin-1 terminal gets ASCII glyphs, never a crash
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return _nagios_usage_error(argv, exc)
    command = choose_command(args)
    args.command = command
    if command == "tui":
        import gc

        gc.enable()  # a long session: collect as usual (program() turned it off for one run)
    if command == "tui" and not _interactive():
        sys.stderr.write("gpudoctor: error: the TUI needs a terminal on stdin and stdout; "
                         "use `gpudoctor check` or `gpudoctor --json`\n")
        return 2
    if command != "tui":  # Textual restores the terminal on its own terms
        _clean_exit_on_termination()
    try:
        module = importlib.import_module(f"gpudoctor.commands.{command}")
        return int(module.run(args) or 0)
    except GpudoctorError as exc:
        sys.stderr.write(f"gpudoctor: error: {one_line(str(exc))}\n")
        return exc.exit_code
    except KeyboardInterrupt as exc:
        if isinstance(exc, Terminated):
            import signal

            name = signal.Signals(exc.signum).name
            sys.stderr.write(f"gpudoctor: terminated by {name}; its temporary files were "
                             "removed\n")
            return 128 + exc.signum
        sys.stderr.write("gpudoctor: interrupted\n")
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the final flush
        except OSError:
            pass
        return 0
    except Exception as exc:
        if os.environ.get("GPUDOCTOR_DEBUG"):
            raise
        sys.stderr.write(f"gpudoctor: internal error: {type(exc).__name__}: {one_line(str(exc))} "
                         "(set GPUDOCTOR_DEBUG=1 for a traceback)\n")
        return 3


def _nagios_usage_error(argv: Sequence[str] | None, exc: SystemExit) -> int:
    """A bad command line under `--format nagios` is UNKNOWN (3), never CRITICAL (2)."""
    code = exc.code if isinstance(exc.code, int) else 0
    words = list(sys.argv[1:] if argv is None else argv)
    if code == 2 and ("--format=nagios" in words or "--format nagios" in " ".join(words)):
        sys.stdout.write("GPUDOCTOR UNKNOWN - bad command line (see stderr)\n")
        return 3
    raise exc


def one_line(message: str) -> str:
    """Errors are printed as one line, whatever the library that raised them wrote."""
    return " ".join(message.split())


def options_from(args: argparse.Namespace) -> Options:
    """The diagnosis options the person gave, shared by every command."""
    from gpudoctor.facts import Options

    given = getattr(args, "timeout", None)
    if given is not None:  # parsed by seconds(); a Namespace made in code is checked again
        try:
            given = seconds(str(given))
        except argparse.ArgumentTypeError as exc:
            raise UserError(f"--timeout {exc}") from None
    return Options(gpus=list(args.gpu or []), include_integrated=bool(args.include_integrated),
                   smoke=bool(getattr(args, "smoke", False)), image=getattr(args, "image", None),
                   check_timeout=float(given if given is not None else DEFAULT_TIMEOUT),
                   timeout_given=given is not None,
                   extra={"hsa_override": bool(getattr(args, "hsa_override", False)),
                          "rocm": getattr(args, "rocm", None)})
