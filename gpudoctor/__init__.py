"""gpudoctor: finds out why GPU containers cannot work on a Linux host, and repairs what it can."""

__version__ = "0.1.0"

#: `typing.TYPE_CHECKING` without importing typing, which costs every `gpudoctor --json` about
#: 2 ms: type checkers take any name TYPE_CHECKING as true. gpudoctor's modules import it from
#: here and import from typing only under `if TYPE_CHECKING:` (annotations are strings).
TYPE_CHECKING = False
