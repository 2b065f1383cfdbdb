"""The `weightlib` command line: a thin Typer layer over the `weightlib` library."""
