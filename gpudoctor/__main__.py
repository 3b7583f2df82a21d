"""`python -m gpudoctor` runs the same entry point as the console script."""

from gpudoctor.cli import main

raise SystemExit(main())
