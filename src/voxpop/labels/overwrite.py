"""Writing over an existing corpus directory or label set: refuse different content, reuse the same.

A verb that writes a corpus (``voxpop import``, ``voxpop merge``) or a label set (``voxpop labels``)
calls :func:`save_corpus` / :func:`save_label_set`. When the destination already holds the same
content nothing is written and the caller says it was reused; when it holds different content the
write is refused with a :class:`~voxpop.core.errors.ConfigError` unless ``force`` is given. Content is
compared as data (the tables read back and compared cell by cell, the metadata key by key), so two
writers of different library versions producing the same tables count as the same content.
"""

from __future__ import annotations

import filecmp
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pyarrow.parquet as pq

from voxpop.core.errors import ConfigError, option
from voxpop.core.paths import check_folder_target, output_file

if TYPE_CHECKING:
    from voxpop.corpus import Corpus
    from voxpop.labels.labelset import LabelSet

Outcome = Literal["written", "replaced", "reused"]
_CORPUS_FILES = ("corpus.yaml", "items.parquet", "ratings.parquet")


def save_corpus(corpus: Corpus, directory: str | Path, force: bool = False) -> Outcome:
    """Save ``corpus`` into ``directory`` unless that would silently replace a different corpus.

    Args:
        corpus: the corpus to write.
        directory: the corpus directory (``corpus.yaml``, ``items.parquet``, ``ratings.parquet``).
        force: replace a different corpus already in ``directory``.

    Returns:
        ``"written"`` (nothing was there), ``"reused"`` (the same corpus was there; nothing written) or
        ``"replaced"`` (a different corpus was there and ``force`` replaced it).

    Raises:
        ConfigError: ``directory`` holds a different (or unreadable) corpus and ``force`` is false; the
            message names both item counts and how to proceed.

    Example:
        >>> save_corpus(corpus, "corpora/crema-d")  # doctest: +SKIP
        'written'
    """
    directory = Path(directory)
    check_folder_target(directory)
    present = [name for name in _CORPUS_FILES if (directory / name).exists()]
    if not present:
        corpus.save(directory)
        return "written"
    with tempfile.TemporaryDirectory(prefix=".voxpop-compare-", dir=_existing_parent(directory)) as scratch:
        corpus.save(scratch)
        same = len(present) == len(_CORPUS_FILES) and all(
            _same_file(Path(scratch) / name, directory / name) for name in _CORPUS_FILES
        )
    if same:
        return "reused"
    if not force:
        raise ConfigError(
            f"{directory}: already holds a different corpus ({_corpus_size(directory)}); this one has "
            f"{len(corpus.items):,} items and {len(corpus.ratings):,} ratings. Nothing was written: choose "
            f"another output folder, or pass {option('force')} to replace it."
        )
    corpus.save(directory)
    return "replaced"


def save_label_set(labels: LabelSet, path: str | Path, force: bool = False) -> Outcome:
    """Save ``labels`` to ``path`` unless that would silently replace a different label set.

    Args:
        labels: the label set to write.
        path: the parquet file.
        force: replace a different file already at ``path``.

    Returns:
        ``"written"``, ``"reused"`` or ``"replaced"`` as :func:`save_corpus`.

    Raises:
        ConfigError: ``path`` holds a different file (another rule, other items, not a label set) and
            ``force`` is false.
    """
    path = output_file(path)
    if not path.exists():
        labels.save(path)
        return "written"
    with tempfile.TemporaryDirectory(prefix=".voxpop-compare-", dir=_existing_parent(path)) as scratch:
        candidate = labels.save(Path(scratch) / path.name)
        same = _same_file(candidate, path)
    if same:
        return "reused"
    if not force:
        try:
            pq.read_schema(path)
            held = f"a different label set (rule {labels.rule!r} gives other targets, items or options)"
        except Exception:  # pyarrow raises several types for a file that is not parquet
            held = "a file that is not a label set (not a Parquet table)"
        raise ConfigError(
            f"{path}: already holds {held}. Nothing was written: choose another output file, or pass "
            f"{option('force')} to replace it."
        )
    labels.save(path)
    return "replaced"


def outcome_note(outcome: Outcome, path: str | Path, what: str) -> str:
    """One sentence for the user about what :func:`save_corpus` / :func:`save_label_set` did.

    >>> outcome_note("reused", "corpora/x", "corpus")
    'corpora/x already held the same corpus: reused, nothing rewritten.'
    """
    return {
        "written": f"saved to {path}.",
        "reused": f"{path} already held the same {what}: reused, nothing rewritten.",
        "replaced": f"replaced the different {what} that was in {path} (--force).",
    }[outcome]


STUDY_OUTPUTS = ("results.parquet", "runs.json", "report.html", "report.md", "recipe.yaml", "summary.csv")


def existing_outputs(directory: str | Path, names: tuple[str, ...] = STUDY_OUTPUTS) -> list[str]:
    """The output files of a study folder that already exist (before a run replaces them), in ``names`` order.

    A study folder keeps its cache (an edited recipe reruns only the changed stages); what a run replaces
    are these summary files, which the verbs name after the run (:func:`replaced_note`).

    >>> existing_outputs("no/such/folder")
    []
    """
    directory = Path(directory)
    return [name for name in names if (directory / name).is_file()]


def replaced_note(directory: str | Path, replaced: list[str]) -> str:
    """The sentence naming the earlier outputs a study run replaced, or ``""``.

    >>> replaced_note("runs/s3", ["results.parquet", "report.html"])
    'replaced the earlier results.parquet, report.html in runs/s3 (the stage cache was reused where valid).'
    """
    if not replaced:
        return ""
    return f"replaced the earlier {', '.join(replaced)} in {directory} (the stage cache was reused where valid)."


def _same_file(new: Path, old: Path) -> bool:
    """True when two corpus or label-set files hold the same content (parquet: same tables and voxpop metadata)."""
    if not old.is_file():
        return False
    if filecmp.cmp(new, old, shallow=False):  # the same bytes (the same writer): no table read back
        return True
    if new.suffix != ".parquet":
        return False
    try:
        old_table = pq.read_table(old)
    except Exception:  # pyarrow raises several types for a file that is not parquet; all mean "different"
        return False
    new_table = pq.read_table(new)
    if old_table.schema.remove_metadata() != new_table.schema.remove_metadata():
        return False
    keep = {b"pandas"}  # pandas metadata records library versions; the index columns are compared below
    own = {k: v for k, v in (new_table.schema.metadata or {}).items() if k not in keep}
    theirs = {k: v for k, v in (old_table.schema.metadata or {}).items() if k not in keep}
    return own == theirs and old_table.to_pandas().equals(new_table.to_pandas())


def _corpus_size(directory: Path) -> str:
    try:
        items = pq.read_metadata(directory / "items.parquet").num_rows
        ratings = pq.read_metadata(directory / "ratings.parquet").num_rows
    except Exception:  # a damaged or partial corpus folder is still "different"
        return "its files are incomplete or unreadable"
    return f"{items:,} items, {ratings:,} ratings"


def _existing_parent(path: Path) -> Path:
    """The nearest existing folder at or above ``path``'s parent (scratch files stay on the same disk)."""
    parent = path if path.is_dir() else path.parent  # a corpus folder, or the folder of a file
    while not parent.is_dir():
        parent = parent.parent
    return parent
