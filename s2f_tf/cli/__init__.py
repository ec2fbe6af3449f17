"""Command-line entry points: thin absl apps over library calls."""
