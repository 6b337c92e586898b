"""Sub-commands of `python -m kilo`, one module per command group, each with
`register_cli(subparsers)`."""
