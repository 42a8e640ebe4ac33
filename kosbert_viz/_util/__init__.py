"""Shared infrastructure: input checks, column helpers, progress bars (no kosbert_viz imports above it)."""
