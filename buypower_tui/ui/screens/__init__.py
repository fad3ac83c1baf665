"""The screens: batches, the recipient editor, settings and the API key."""
