"""Does every Dask worker see the stage cache? A token file written into the cache folder by the main process
is read back by each worker: before the first stage by every worker then connected
(:func:`check_workers_see`), and by each worker before it runs a stage (:meth:`CacheToken.require_seen`), so a
worker that joins later (an adaptive cluster's replacement job on a node that mounts another disk) is stopped
with the same one-line message instead of writing its stages where the run never looks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from voxpop.core.errors import ConfigError

TOKEN_PREFIX = ".voxpop-worker-check-"
"""The name prefix of the token files :func:`cache_token` writes into the cache folder (removed after the run)."""


@dataclasses.dataclass(frozen=True)
class CacheToken:
    """A token file in the stage cache folder: ``folder / name`` holds ``token`` while the run lasts.

    Args:
        folder: the absolute cache folder every worker must share; name: the token file's name; token: its text.
    """

    folder: str
    name: str
    token: str

    def seen_here(self) -> bool:
        """Whether this process reads the token from the folder (not a folder of the same name on its own disk)."""
        return _reads(Path(self.folder) / self.name, self.token)

    def require_seen(self) -> None:
        """On a worker, before a stage: raise when this worker does not see the cache folder.

        Raises:
            ConfigError: ``worker ADDRESS cannot see FOLDER: the cache must be on a filesystem every worker
                mounts`` (ADDRESS: this Dask worker's, or ``this process`` outside a worker).
        """
        if not self.seen_here():
            raise ConfigError(blind_message(_worker_address(), self.folder))


def blind_message(address: str, folder: str | Path) -> str:
    """The one line for a worker at ``address`` that cannot see the cache ``folder``."""
    return f"worker {address} cannot see {folder}: the cache must be on a filesystem every worker mounts"


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):  # ValueError: not running on a Dask worker
        return "this process"


@contextlib.contextmanager
def cache_token(folder: Path) -> Iterator[CacheToken]:
    """Write a token file with a random text into ``folder`` (created if needed) for the duration of a run; the
    token file and every worker's reply file are removed after.

    Args:
        folder: the absolute stage cache folder.

    Yields:
        The :class:`CacheToken` to check workers against.
    """
    folder.mkdir(parents=True, exist_ok=True)
    token = CacheToken(str(folder), f"{TOKEN_PREFIX}{secrets.token_hex(16)}", secrets.token_hex(16))
    (folder / token.name).write_text(token.token)
    try:
        yield token
    finally:
        for path in folder.glob(f"{token.name}*"):
            path.unlink(missing_ok=True)


def check_workers_see(client: Any, token: CacheToken) -> None:
    """Check that every worker now connected to ``client``'s cluster sees the cache folder of ``token``, before
    the first stage: each worker reads the token file back and writes a reply file next to it, which this process
    reads (what workers write reaches the run).

    Args:
        client: a connected ``distributed.Client``; token: from :func:`cache_token`.

    Raises:
        ConfigError: one line per worker that cannot see the folder, e.g. ``worker tcp://10.0.0.7:40123 cannot
            see /home/me/runs/s/cache: the cache must be on a filesystem every worker mounts``.
    """
    replies = client.run(_answer_token, token, on_error="ignore")  # not the workers lost meanwhile
    folder = Path(token.folder)
    blind = [a for a, reply in sorted(replies.items()) if reply is None or not _reads(folder / reply, token.token)]
    if blind:
        raise ConfigError("\n".join(blind_message(address, folder) for address in blind))


def _answer_token(token: CacheToken) -> str | None:
    """On a worker: when it sees ``token``, write a reply file next to it and return its name (else None)."""
    if not token.seen_here():
        return None
    reply = f"{token.name}-{uuid.uuid4().hex}"
    try:
        (Path(token.folder) / reply).write_text(token.token)
    except OSError:
        return None
    return reply


def _reads(path: Path, text: str) -> bool:
    try:
        return path.read_text() == text
    except OSError:
        return False
