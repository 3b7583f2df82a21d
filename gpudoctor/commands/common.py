"""What the commands share: opening the host and running the doctor once."""

from __future__ import annotations

import argparse
import json
import sys

from gpudoctor import TYPE_CHECKING
from gpudoctor.cli import options_from
from gpudoctor.host import open_host
from gpudoctor.report import Doctor

if TYPE_CHECKING:
    from typing import Any


def make_doctor(args: argparse.Namespace) -> Doctor:
    """Open the host (live, root or snapshot) with the person's options."""
    return Doctor(host=open_host(args.root), options=options_from(args))


def print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False) + "\n")
