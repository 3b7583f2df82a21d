"""Starting from what the person has: an error text (`gpudoctor explain TEXT`) or a container
(`--container`). text.py finds every known error in the text (the one cause table that verify
uses too), judge.py runs exactly the checks that confirm or rule out each cause on this host,
container.py reads a container's state, log and GPU configuration and judges it the same way.
"""
