"""Configuration as code: load YAML with positions, validate, compile to a Ruleset."""
