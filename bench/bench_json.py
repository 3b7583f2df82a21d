"""Time `gpudoctor --json` on generated host roots with 1, 8 and 64 GPUs.

Each measurement is a fresh `python -m gpudoctor --json --root R` process, as a script or a
fleet tool would run it, interleaved in one loop with a bare `python -c pass` so that machine
load hits both alike. The table shows the median of each, its ratio to bare python, and the
64/8 ratio. Targets: 8 GPUs within 5x bare python (issue 11); 64 GPUs within 1.5x
of 8. Bytecode is cached in a temporary folder (an installed package has .pyc files; a
PYTHONDONTWRITEBYTECODE environment would otherwise recompile every module on every run).
Both are timed with the python of a regular (non-editable) install made for the run
(bench/regular_install.py): the development venv's editable-install hook slows every start,
the bare baseline's too, which would make the ratio look better than what users get.

    .venv/bin/python bench/bench_json.py [--runs 15] [--sizes 1 8 64] [--vendor amd] [--strict]

Exit status: 0, or 1 with --strict when a target is missed; 2 on a bad command line or when
gpudoctor itself fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
EIGHT_VS_BARE = 5.0
SIXTY_FOUR_VS_EIGHT = 1.5
TIMEOUT = 120


def build_roots(base: Path, sizes: list[int], vendor: str) -> dict[int, Path]:
    sys.path.insert(0, str(REPO))
    from tests.support.scenarios import generated

    return {n: generated(base / f"gen{n}", n, vendor) for n in sizes}


def timed(argv: list[str], env: dict[str, str], cwd: str | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                          timeout=TIMEOUT, check=False, cwd=cwd)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):  # 1: a check failed, which is a valid report
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: "
                           f"{proc.stderr.decode(errors='replace').strip()[-500:]}")
    return elapsed


def measure(python: str, roots: dict[int, Path], runs: int, env: dict[str, str],
            cwd: str | None = None) -> dict[str, list[float]]:
    """Samples per command. `cwd` should be a neutral folder: `python -m gpudoctor` run in a
    checkout imports the checkout (the current folder comes first on sys.path), not the
    install being measured."""
    commands: dict[str, list[str]] = {"bare": [python, "-c", "pass"]}
    for n, root in roots.items():
        commands[str(n)] = [python, "-m", "gpudoctor", "--json", "--root", str(root)]
    for argv in commands.values():  # warm up: write bytecode, fill the page cache
        timed(argv, env, cwd)
    samples: dict[str, list[float]] = {key: [] for key in commands}
    keys = list(commands)
    for i in range(runs):
        order = keys[i % len(keys):] + keys[:i % len(keys)]  # rotate: no fixed position bias
        for key in order:
            samples[key].append(timed(commands[key], env, cwd))
    return samples


def report(samples: dict[str, list[float]], runs: int) -> tuple[list[str], bool]:
    """The table lines and whether every target that could be judged was met."""
    medians = {key: statistics.median(values) * 1000 for key, values in samples.items()}
    bare = medians["bare"]
    lines = [f"gpudoctor --json, median of {runs} runs each (interleaved with bare python)",
             f"{'GPUs':>6}  {'median ms':>10}  {'x bare python':>13}  target"]
    ok = True
    lines.append(f"{'bare':>6}  {bare:10.1f}  {1.0:13.2f}")
    for key, ms in medians.items():
        if key == "bare":
            continue
        ratio = ms / bare
        target = ""
        if key == "8":
            met = ratio <= EIGHT_VS_BARE
            ok &= met
            target = f"<= {EIGHT_VS_BARE:g}x bare: {'met' if met else 'MISSED'}"
        lines.append(f"{key:>6}  {ms:10.1f}  {ratio:13.2f}  {target}".rstrip())
    if "8" in medians and "64" in medians:
        scale = medians["64"] / medians["8"]
        met = scale <= SIXTY_FOUR_VS_EIGHT
        ok &= met
        lines.append(f"64/8 ratio: {scale:.2f} (target <= {SIXTY_FOUR_VS_EIGHT:g}: "
                     f"{'met' if met else 'MISSED'})")
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (default 15)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 64],
                        help="GPU counts to generate (default 1 8 64)")
    parser.add_argument("--vendor", choices=("amd", "nvidia"), default="amd")
    parser.add_argument("--python", default=None,
                        help="interpreter with gpudoctor installed regularly (default: a "
                             "fresh non-editable install of this checkout, made for the run)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.runs < 1 or any(n < 1 for n in args.sizes):
        parser.error("--runs and --sizes must be positive")
    with tempfile.TemporaryDirectory(prefix="gd-bench-") as tmp:
        base = Path(tmp)
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(base / "pycache")
        env["NO_COLOR"] = "1"
        roots = build_roots(base, sorted(set(args.sizes)), args.vendor)
        import regular_install

        try:
            python = args.python or regular_install.build(base)
            if regular_install.is_editable(python):
                sys.stderr.write(f"bench_json: {python} has gpudoctor installed editable; its "
                                 "hook slows every start, bare python's too, so the ratios "
                                 "are not what users see\n")
            sys.stderr.write(f"bench_json: timing {python}\n")
            samples = measure(python, roots, args.runs, env, cwd=tmp)
        except (RuntimeError, subprocess.TimeoutExpired, subprocess.CalledProcessError) as exc:
            sys.stderr.write(f"bench_json: {exc}\n")
            return 2
    lines, ok = report(samples, args.runs)
    sys.stdout.write("\n".join(lines) + "\n")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
