"""Headless core: everything the CLI and the TUI share. Never imports textual."""
