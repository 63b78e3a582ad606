"""The built-in web chat messenger."""
