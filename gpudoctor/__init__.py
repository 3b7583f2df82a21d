"""gpudoctor: finds out why GPU containers cannot work on a Linux host, and repairs what it can."""

__version__ = "0.1.0"
