"""Command groups of `python -m kilo`: one module per group, each with `register_cli(subparsers)`."""
