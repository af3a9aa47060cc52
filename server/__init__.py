"""The outer layer: settings, orchestration of a round, the CLI (and later HTTP)."""
