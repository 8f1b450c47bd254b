"""What a saved fold model is, recorded when it is written and checked whenever it is read back.

:func:`voxpop.models.cross_validation.cross_validate` writes each fold's ``fold.json`` last; besides the fold name
and the fingerprint of what the fold was trained on, it holds the :func:`fold_record` of the fold model: the run
it belongs to (``run``: the train stage directory's name, the ``stage`` of ``runs.json``), its classes in order,
its feature spec (the feature store key, the input kind and its dimensions) and the SHA-256 of every file the
model loads (``model.json``, ``weights.pt`` or ``estimator.skops``, ``standardize.npz``, ``backbone/config.json``).

:func:`verify_folds` checks those records before a fold model is loaded (``predict``, ``evaluate``, ``export``,
and resuming a cross-validation): a fold folder whose record names another fold or run, or another class order,
and a file holding the SHA-256 recorded for another fold's file (fold files swapped or copied) are a
:class:`FoldRecordError` naming both places, as is a file of a fold folder that is a symlink leading out of the run
folder (its target is never loaded). A file that matches no record was changed after training; the caller
loads the fold first (so a damaged file keeps its own message) and then raises :func:`changed_files_error`.
Folds written before these records existed (no ``sha256`` in ``fold.json``) are read with a one-line notice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from voxpop.core.cache import notify, parse_json
from voxpop.core.errors import InputError
from voxpop.core.formatting import excerpt, excerpts
from voxpop.corpus.media_paths import link_outside
from voxpop.corpus.stored import file_sha256

RECORD = "fold.json"
LEGACY_ESTIMATOR_FILE = "estimator.pkl"
"""The pickle an older voxpop wrote for a classical head; never read."""
NOT_MODEL_FILES = (RECORD, "predictions.parquet", "dev_predictions.parquet", LEGACY_ESTIMATOR_FILE)
"""Files of a fold folder that are not part of the fold model: its record, its predictions, and the pickle an
older voxpop wrote for a classical head (never read: loading names it, LegacyModelError, and resume retrains)."""
RECORD_KEYS = ("run", "classes", "features", "sha256")
"""The keys :func:`fold_record` adds to ``fold.json``; a record without them was written before fold records existed
(read with a one-line notice, its files unchecked)."""


class FoldRecordError(InputError):
    """A fold model whose files or record belong to another fold or run, or changed after training."""


def model_files(directory: Path) -> list[str]:
    """The files of a fold folder that its model loads (relative POSIX paths, sorted): everything
    :meth:`~voxpop.models.cross_validation.FoldModel.save` wrote, not the record or the fold's predictions."""
    return sorted(
        p.relative_to(directory).as_posix()
        for p in directory.rglob("*")
        if p.is_file() and not p.is_symlink() and p.name not in NOT_MODEL_FILES and not p.name.endswith(".tmp")
    )


def fold_record(directory: Path, run: str, classes: Sequence[str], features: Mapping[str, Any]) -> dict[str, Any]:
    """The keys a fold's ``fold.json`` records about its model, once the model is saved in ``directory``.

    Args:
        directory: the fold folder the model was just saved in.
        run: the run's identity: the name of its train stage directory (``runs.json``'s ``stage`` ends in it).
        classes: the model's output columns in order (classes, or dimensions of a regressor).
        features: the feature spec the model reads (feature store key, input kind, dimension D, layers L).

    Returns:
        ``{"run", "classes", "features", "sha256": {file: hex digest}}`` (:data:`RECORD_KEYS`).
    """
    digests = {name: file_sha256(directory / name) for name in model_files(directory)}
    return {"run": run, "classes": list(classes), "features": dict(features), "sha256": digests}


def _read_record(directory: Path) -> dict[str, Any] | None:
    """A fold folder's ``fold.json`` as a dict, or None when it is missing or unreadable."""
    path = directory / RECORD
    if path.is_symlink() or not path.is_file():
        return None
    try:
        record = parse_json(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _recorded_digests(records: Mapping[Path, Mapping[str, Any]]) -> dict[str, Path]:
    """Every recorded SHA-256 of the given fold folders -> the file it was recorded for."""
    found: dict[str, Path] = {}
    for directory, record in records.items():
        digests = record.get("sha256")
        if isinstance(digests, dict):
            for name, digest in digests.items():
                if isinstance(digest, str):
                    found.setdefault(digest, directory / name)
    return found


def verify_folds(
    folds: Mapping[str, Path],
    run: str,
    classes: Sequence[str] | None,
    *,
    source: str,
    root: Path,
    notice: Callable[[str], None] = notify,
    complete: bool = False,
) -> dict[str, list[str]]:
    """Check fold folders against their records before their models are loaded (each file hashed once).

    Args:
        folds: ``{fold name: fold folder}`` as the run lists them (``runs.json`` folds, or the protocol's folds).
        run: the run's identity (its train stage directory's name), as :func:`fold_record` recorded it.
        classes: the run's output columns in order; None: not compared.
        source: where ``folds`` and ``run`` come from, for messages (e.g. ``OUT/runs.json, run 'base'``).
        root: the run folder holding the fold folders (the train stage directory): a fold folder, or a file in
            one, that is a symlink leading out of it is refused (recorded folds or not).
        notice: receives one line when some folds carry no record (written by an older voxpop).
        complete: ``folds`` are all of the run's folds (``runs.json``): a recorded fold folder beside them that they
            leave out is refused (a fold dropped from the list would change the averaged predictions silently).

    Returns:
        ``{fold: [file, ...]}``: files that match no recorded SHA-256 (changed after training, or replaced by a
        file of another run); load the fold first, so a damaged file keeps its own message, then raise
        :func:`changed_files_error`.

    Raises:
        FoldRecordError: a fold folder whose record names another fold or run or another class order, or a
            file whose SHA-256 is the one recorded for another file (fold files swapped or copied), naming both;
            a fold folder or file that is a symlink leading out of ``root``, naming it and its target.
    """
    for directory in folds.values():
        _refuse_outside_links(directory, root)
    recorded: dict[Path, dict[str, Any]] = {}  # every recorded fold beside them: where a swapped file came from
    for parent in sorted({d.parent for d in folds.values()}):
        for child in sorted(parent.iterdir()) if parent.is_dir() else []:
            if child.is_dir() and (read := _read_record(child)) is not None:
                recorded[child] = read
    records = {d: recorded[d] for d in folds.values() if d in recorded}
    left_out = sorted(set(recorded) - set(folds.values())) if complete else []
    if left_out:
        raise FoldRecordError(
            f"{left_out[0]} holds fold {excerpt(recorded[left_out[0]].get('fold'))} of this run, but {source} does "
            "not list it: a fold was removed from the list (the predictions would average fewer fold models). "
            "Restore the run's own runs.json or train the run again."
        )
    digests = _recorded_digests(recorded)
    unrecorded = {d for d in folds.values() if not all(k in records.get(d, {}) for k in RECORD_KEYS)}
    for directory in unrecorded & set(records):  # an older record has none of the keys; some of them: edited
        kept = [k for k in RECORD_KEYS if k in records[directory]]
        if kept:
            raise FoldRecordError(
                f"{directory / RECORD}: has {', '.join(kept)} but not {', '.join(sorted(set(RECORD_KEYS) - set(kept)))}"
                ": a record is written whole (an older voxpop wrote none of them), so this one was edited. Restore the "
                "run's own fold folder or train the run again."
            )
    older = [n for n, d in folds.items() if d in unrecorded and (d / "model.json").is_file()]  # (else: load names it)
    if older:
        notice(
            f"{source}: fold{'s' if len(older) > 1 else ''} {', '.join(older)} carr{'y' if len(older) > 1 else 'ies'} "
            "no file record (written by voxpop before fold records): their files are not checked; train the run "
            "again with this version to record them."
        )
    changed: dict[str, list[str]] = {}
    for name, directory in folds.items():
        if directory in unrecorded:
            continue
        record = records[directory]
        _check_identity(name, directory, record, run, classes, source)
        if not isinstance(record["sha256"], dict):
            raise FoldRecordError(f"{directory / RECORD}: its 'sha256' is not a table of file digests (damaged); "
                                  "train the run again.")  # fmt: skip
        _check_listing(directory, record["sha256"])
        for file, expected in record["sha256"].items():
            path = directory / file
            if not path.is_file():  # a symlink inside the run is hashed as the file it leads to
                continue  # loading names the missing file
            digest = file_sha256(path)
            if digest == expected:
                continue
            origin = digests.get(digest)
            if origin is not None:
                raise FoldRecordError(
                    f"{path} has the SHA-256 recorded for {origin}: the fold files were swapped or copied, and fold "
                    f"{excerpt(name)} would predict with another fold's model. Put the files back in their own fold "
                    "folders "
                    "or train the run again."
                )
            changed.setdefault(name, []).append(file)
    return changed


def _refuse_outside_links(directory: Path, root: Path) -> None:
    """FoldRecordError when the fold folder ``directory``, or an entry under it, is a symlink leading out of
    ``root`` (:func:`~voxpop.corpus.media_paths.link_outside`): a model file of another run linked in."""
    entries = [directory, *sorted(directory.rglob("*"))] if directory.is_dir() else [directory]
    for path in entries:
        target = link_outside(path, root)
        if target is not None:
            raise FoldRecordError(
                f"{path}: is a symlink leading out of the run folder {root} (to {target}); voxpop loads a fold "
                "model only from files inside its run, so it was not loaded. Put the run's own file back (a copy, "
                "not a link) or train the run again."
            )


def _check_listing(directory: Path, digests: Mapping[str, Any]) -> None:
    """FoldRecordError when a fold record's ``sha256`` table names a path outside the fold folder, or leaves out a
    model file the folder holds: an emptied or shortened table would let a swapped file through unchecked."""
    outside = [f for f in digests if Path(f).is_absolute() or ".." in Path(f).parts or not Path(f).parts]
    unlisted = sorted(set(model_files(directory)) - set(digests))
    if outside or unlisted:
        what = (f"names {excerpt(outside[0])}, which is not a file of the fold folder" if outside
                else f"has no digest for {directory / unlisted[0]}, a file of the fold's model")  # fmt: skip
        raise FoldRecordError(
            f"{directory / RECORD}: its 'sha256' table {what}: the record was edited (or a file added to the fold "
            "folder), and voxpop checks every model file before it uses one. Restore the run's own fold folder or "
            "train the run again."
        )


def _check_identity(
    name: str, directory: Path, record: Mapping[str, Any], run: str, classes: Sequence[str] | None, source: str
) -> None:
    """FoldRecordError when a fold folder's record names another fold, run or class order than ``source``."""
    path = directory / RECORD
    if record.get("fold") != name:
        raise FoldRecordError(
            f"{path} records fold {excerpt(record.get('fold'))}, but {source} reads this folder as fold "
            f"{excerpt(name)}: the fold "
            "folders were swapped or renamed. Put them back under their own names or train the run again."
        )
    if record.get("run") != run:
        raise FoldRecordError(
            f"{path} records run {excerpt(record.get('run'))}, but {source} is run {excerpt(run)}: this fold folder "
            "was copied "
            "from another run. Put the run's own fold folder back or train the run again."
        )
    if classes is not None and list(record.get("classes") or []) != list(classes):
        raise FoldRecordError(
            f"{path} records classes {excerpts(record.get('classes'))}, but {source} lists "
            f"{excerpts(list(classes))}: the model's outputs would be read in another order. Restore the run's own "
            "files or train the run again."
        )


def changed_files_error(name: str, directory: Path, files: Sequence[str]) -> FoldRecordError:
    """The error for fold ``name``'s ``files`` whose SHA-256 matches no record (:func:`verify_folds`)."""
    shown = ", ".join(str(directory / f) for f in files)
    return FoldRecordError(
        f"{shown}: the SHA-256 differs from the one {directory / RECORD} recorded when fold {excerpt(name)} was "
        "trained "
        "(the file was replaced, e.g. by another run's, or changed); voxpop does not predict with it. Restore the "
        "run's own file or train the run again."
    )
