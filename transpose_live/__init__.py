"""transpose-live."""
