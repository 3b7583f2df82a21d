"""Built-in fix plugins, installed as gpudoctor.fixes (one fix per module)."""
