"""OP Stack batch format (work in progress; FORMAT follows)."""
