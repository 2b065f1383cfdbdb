"""`python -m weightlib.cli` runs the CLI."""

from .app import main

main()
