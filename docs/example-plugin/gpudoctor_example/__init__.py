"""A worked example of a gpudoctor plugin: one check and the fix it offers (docs/plugins.md)."""
