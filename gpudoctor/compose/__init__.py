"""Judging a person's compose file against this host (`gpudoctor compose FILE`).

load.py reads the file with positions (ruamel.yaml's round-trip loader: it keeps comments, so a
corrected file differs from the original only where gpudoctor changed it); services.py finds each
service's GPU parts; judge.py decides what will not work here, each finding with its file, line
and column and a correction; correct.py applies the corrections to the tree and shows the diff.
"""
