"""Built-in check plugins, installed as gpudoctor.checks (one check per module)."""
