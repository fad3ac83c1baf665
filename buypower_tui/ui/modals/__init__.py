"""Modal screens: errors, confirmations, prompts, help, the file picker and the row editor."""
