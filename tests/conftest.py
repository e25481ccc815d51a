"""Shared by the whole suite: ``tests/`` itself is importable, so that a test module in a sub-folder can
reuse another's helpers (``from test_errors_cli import assert_one_line_error``)."""
