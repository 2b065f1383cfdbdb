"""The `weightlib` command line: a thin Typer layer over the `weightlib` library.

Where things are:
  app.py        the Typer app, global options, `main` (every failure → one `error:` line + code)
  commands/     one module per command: its own options, `EXAMPLES`, the function, `register`
  params.py     arguments and options shared by several commands (`Model`, `Revision`, `Json`…)
  output.py     `emit(document, render)`: the one sink for results (JSON with --json, else text)
  console.py    global flags, Rich consoles, `log`/`warn` on stderr
  progress.py   `byte_progress`: Rich bars on a terminal, plain lines otherwise, for every command
  examples.py   `Example` and `add_command`: examples at the end of `--help` and in the man page
  errors.py     exceptions → exit codes (the table itself is `weightlib.errors.EXIT_CODES`)
  reference.py  exit codes and environment as `--help`, man page and README text
  manpage.py    `python -m weightlib.cli.manpage > man/weightlib.1`
  credentials.py  `--token` / `--token -` / `--token-file` → the token
"""
