"""What every command-line tool shares: one-line errors, exit codes, ``--set`` overrides."""
from __future__ import annotations

import sys
from typing import Any, Callable, Dict, List, NoReturn, Optional, Sequence

from .config import parse_yaml
from .errors import UserError

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def run_main(main: Callable[[Optional[Sequence[str]]], Optional[int]]) -> NoReturn:
    """Run a tool's ``main`` and exit; a user error prints one line, a bug its traceback.

    A :class:`~lotr_gluon.errors.UserError` (a bad argument, file, folder or config value)
    and an ``OSError`` (a missing or unwritable file) exit 1 with ``error: <message>``.
    Anything else is a bug: Python prints its traceback and the exit code is 1. argparse
    usage errors exit 2; Ctrl-C exits 130.
    """
    try:
        code = main(None)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except (UserError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    sys.exit(code or EXIT_OK)


def parse_overrides(items: Optional[List[str]]) -> Dict[str, Any]:
    """``["num_points=68", "dropout=0"]`` -> ``{"num_points": 68, "dropout": 0}`` (YAML values)."""
    overrides: Dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects key=value, got {item!r}")
        overrides[key.strip()] = parse_yaml(value)
    return overrides
