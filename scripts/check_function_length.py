"""Fail when a function or method in the package is longer than the limit (default 60 lines).

Run by `make lint`: `python scripts/check_function_length.py weightlib`. A function's length
counts from its `def` (decorators excluded) to its last line, docstring and comments included.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

LIMIT = 60


def long_functions(root: Path, limit: int = LIMIT) -> list[str]:
    """`path:line: name is N lines` for every function under `root` longer than `limit`."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit:
                    found.append(f"{path}:{node.lineno}: {node.name} is {length} lines (> {limit})")
    return found


def main(argv: list[str]) -> int:
    problems = [line for folder in argv or ["weightlib"] for line in long_functions(Path(folder))]
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
