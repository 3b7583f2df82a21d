"""Time `gpudoctor fleet --json` on 10,000 reports (the issue's target: a few seconds).

The reports are real: `gpudoctor --json --root R` on a few host roots the tests build (healthy,
a missing toolkit, nouveau holding the GPU, a broken daemon.json), then copied to N files with
their own hostnames, PCI addresses and driver versions, as a fleet's gathered reports differ.
Each measurement is a fresh `python -m gpudoctor fleet --json DIR` process, interleaved with a
bare process that only reads and `json.loads` every file (the cost no summary can avoid), so
machine load hits both alike. Targets: at most 5 s on an idle machine, and at most 2.2x the
bare read-and-parse (the part that holds under load).

    .venv/bin/python bench/bench_fleet.py [--reports 10000] [--runs 3] [--strict]

Exit status: 0, or 1 with --strict when a target is missed (the absolute one is judged only
with --max-seconds, or when the bare parse itself takes under 5 s); 2 on a bad command line or
when gpudoctor itself fails.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 5.0
TARGET_RATIO = 2.2
BARE = ("import json, os, sys\n"
        "d = sys.argv[1]\n"
        "for n in sorted(os.listdir(d)):\n"
        "    with open(os.path.join(d, n), 'rb') as f:\n"
        "        json.loads(f.read().decode())\n")
TIMEOUT = 120
SAMPLES = ("amd_mi300x_8", "nvidia_nouveau", "ctr_nvidia_all_good", "ctr_toolkit_missing",
           "ctr_daemon_json_trailing_comma")


def sample_reports(base: Path) -> list[dict]:
    sys.path.insert(0, str(REPO))
    from tests.support.fleet_roots import build_roots, write_reports

    roots = build_roots(base / "roots", list(SAMPLES))
    return list(write_reports(roots, base / "samples").values())


def write_fleet(samples: list[dict], folder: Path, count: int) -> None:
    """`count` reports, each a sample with its own hostname, bus number and driver version."""
    folder.mkdir()
    texts = [json.dumps(s) for s in samples]
    for i in range(count):
        text = texts[i % len(texts)]
        bus = f"{(i // len(texts)) % 256:02x}"
        text = text.replace("01:00.0", f"{bus}:00.0").replace("580.95.05", f"580.{i % 7}.05")
        doc = json.loads(text)
        doc["host"]["hostname"] = f"gpu-{i:05d}"
        (folder / f"gpu-{i:05d}.json").write_text(json.dumps(doc))


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                          timeout=TIMEOUT, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: "
                           f"{proc.stderr.decode(errors='replace').strip()[-500:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=10000, help="reports (default 10000)")
    parser.add_argument("--runs", type=int, default=3, help="runs (default 3)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter with gpudoctor installed (default: this one)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help=f"judge the absolute time against this (default {TARGET_SECONDS:g} s "
                             "when the machine is not too busy to tell)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.reports < 1:
        parser.error("--runs and --reports must be positive")
    with tempfile.TemporaryDirectory(prefix="gd-bench-fleet-") as tmp:
        base = Path(tmp)
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(base / "pycache")
        folder = base / "fleet"
        write_fleet(sample_reports(base), folder, args.reports)
        size = sum(p.stat().st_size for p in folder.iterdir())
        argv_ = [args.python, "-m", "gpudoctor", "fleet", "--json", str(folder)]
        bare_ = [args.python, "-c", BARE, str(folder)]
        try:
            timed(argv_, env)  # warm up: bytecode, page cache
            timed(bare_, env)
            samples, bare = [], []
            for _ in range(args.runs):
                samples.append(timed(argv_, env))
                bare.append(timed(bare_, env))
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            sys.stderr.write(f"bench_fleet: {exc}\n")
            return 2
    median, floor = statistics.median(samples), statistics.median(bare)
    ratio = median / floor
    ratio_met = ratio <= TARGET_RATIO
    limit = args.max_seconds if args.max_seconds is not None else TARGET_SECONDS
    judged = args.max_seconds is not None or floor < TARGET_SECONDS
    seconds_met = median <= limit
    sys.stdout.write(
        f"gpudoctor fleet --json on {args.reports} reports ({size / 1e6:.0f} MB), median of "
        f"{args.runs} runs: {median:.2f} s (target <= {limit:g} s: "
        f"{('met' if seconds_met else 'MISSED') if judged else 'not judged, machine busy'})\n"
        f"read and json.loads alone: {floor:.2f} s; ratio {ratio:.2f} "
        f"(target <= {TARGET_RATIO:g}: {'met' if ratio_met else 'MISSED'})\n")
    ok = ratio_met and (seconds_met or not judged)
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
