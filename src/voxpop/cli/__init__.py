"""Command-line interface: ``voxpop VERB ...``. Every verb is a thin call into the library.

Verb modules register their commands on :data:`voxpop.cli.app.app` when imported, which happens when their
verb runs (:mod:`voxpop.cli.verbs`): ``voxpop --help`` imports none of them.
"""

from __future__ import annotations

import sys

from rich.markup import escape

from voxpop.cli.app import app, err_console
from voxpop.core.errors import ConfigError, VoxpopError
from voxpop.core.heap import reuse_freed_memory
from voxpop.core.paths import os_error_message
from voxpop.core.stopping import TERMINATED, Stopped, stop_on_sigterm

__all__ = ["app", "main"]


INTERRUPTED = 130
"""Exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it)."""


def check_argument_text(arguments: list[str]) -> None:
    """Refuse command-line arguments that are not UTF-8 text (Python keeps their bytes as lone surrogates, which a
    label, a class name or a saved table cannot hold), naming the argument and its bytes.

    >>> check_argument_text(["labels", "--classes", "anger," + chr(0xDCFF)])
    Traceback (most recent call last):
    ...
    voxpop.core.errors.ConfigError: argument 3 ('anger,\\xff'): holds bytes that are not UTF-8 text; ...
    """
    for number, text in enumerate(arguments, 1):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            shown = text.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
            raise ConfigError(
                f"argument {number} ('{shown}'): holds bytes that are not UTF-8 text; voxpop reads its arguments "
                "(labels, class names, paths) as UTF-8: type them as UTF-8, or rename a file whose name is not."
            ) from None


def main() -> None:
    """Entry point of the ``voxpop`` console script: errors for people, exit code 2 (a write the file system
    refused, read-only or without permission, too: :func:`voxpop.core.paths.os_error_message`); Ctrl-C exits with
    130 and SIGTERM with 143 (:data:`voxpop.core.stopping.TERMINATED`), each saying that finished work is kept.
    Freed large blocks stay in the heap for reuse (:mod:`voxpop.core.heap`)."""
    reuse_freed_memory()
    stop_on_sigterm()
    try:
        check_argument_text(sys.argv[1:])
        app()
    except Stopped as exc:
        err_console.print(
            f"[bold red]terminated[/] ({escape(str(exc))}). Stages that finished, and the finished folds of a "
            "training stage, are kept in the cache: the same command goes on from there.",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(TERMINATED)
    except VoxpopError as exc:
        err_console.print("[bold red]error:[/]", escape(str(exc)), highlight=False, soft_wrap=True)
        sys.exit(2)
    except OSError as exc:  # a write the file system refused below voxpop's own writers: one line, exit 2
        message = os_error_message(exc)
        if message is None:
            raise
        err_console.print("[bold red]error:[/]", escape(message), highlight=False, soft_wrap=True)
        sys.exit(2)
    except SystemExit as exc:
        if exc.code == INTERRUPTED:  # typer turns Ctrl-C (KeyboardInterrupt) into exit code 130
            err_console.print(
                "[bold red]interrupted.[/] Stages that finished are kept in the cache: the same command goes on "
                "from there.",
                highlight=False,
                soft_wrap=True,
            )
        raise
