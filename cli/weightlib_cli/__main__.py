"""`python -m weightlib_cli` runs the CLI."""

from .app import main

main()
