"""Dated reference tables shipped with gpudoctor (read with importlib.resources)."""
