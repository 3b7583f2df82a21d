"""`python -m gpudoctor` runs the same entry point as the console script."""

from gpudoctor.cli import program

raise SystemExit(program())
