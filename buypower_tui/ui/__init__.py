"""The Textual UI. Only this package may import textual (see the import-linter contract)."""
