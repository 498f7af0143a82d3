"""The seed systems' endpoints, kept under their old names and shapes for existing callers."""
