"""Report renderers (pure: records in, text out) and the thin writers that put them on disk."""
