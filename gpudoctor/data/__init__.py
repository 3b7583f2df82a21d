"""Dated reference tables shipped with gpudoctor (read with gpudoctor.datafile.read_text)."""
