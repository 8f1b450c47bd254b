"""The card of an exported model (``card.json``): a versioned schema, and the checks of each ONNX file against it.

:class:`ExportCard` is the card's schema (pydantic, unknown keys refused, ``format`` :data:`CARD_FORMAT`). Each fold
is a :class:`CardFold`: its ONNX file, the SHA-256 of that file and its output columns in order; the ONNX file itself
carries the fold, its run and its classes as metadata (:func:`mark_onnx`, keys ``voxpop.*``). :func:`read_card` reads
and validates a card (a card of format 1, written before the per-file records, is upgraded on read with a one-line
notice: its files are not checked against a SHA-256); :func:`verified_onnx` reads each listed ONNX file once, checks
its SHA-256, its metadata and the width of its output against the card's classes, and refuses a listed file that is
missing or an ``.onnx`` file the card does not list. Every problem is an
:class:`~voxpop.core.errors.InputError` naming the file and saying to export the run again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import pydantic

from voxpop.core.cache import notify
from voxpop.core.errors import InputError
from voxpop.core.formatting import excerpt, excerpts, validation_problem
from voxpop.core.safe_load import REEXPORT, checked_onnx, read_json_file

CARD_FORMAT = 2
"""The card format this voxpop writes and reads (1: folds named only their file; upgraded on read)."""
OUTPUT = "probabilities"
"""The output of a classifier's graph: (N, C) class probabilities."""
VALUES = "values"
"""The output of a regressor's graph: dimension values on the targets' scale."""
OUTPUT_TEXT = {
    ("categorical", False): "softmax over classes",
    ("categorical", True): "sigmoid per class",
    ("continuous", False): "dimension values on the targets' scale",
}
"""The card's ``output`` for each (``kind``, ``multilabel``); a card whose kind, multilabel, output and output name
disagree was edited, and is refused (each changes how the same ONNX outputs are read)."""
META_FOLD, META_RUN, META_CLASSES, META_FOLDS = "voxpop.fold", "voxpop.run", "voxpop.classes", "voxpop.folds"
"""The metadata keys :func:`mark_onnx` writes into each exported ONNX file."""


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class CardFold(_Strict):
    """One fold of an export: its ONNX file (a name in the export folder), the file's SHA-256 (None: a card of format
    1, not checked) and the fold model's output columns in order."""

    file: str
    sha256: str | None = None
    classes: list[str]


class CardInput(_Strict):
    """The ONNX input: name, feature kind (``vector`` or ``layers``), shape ``[None, D]`` or ``[None, L, D]``, dtype."""

    name: str
    kind: str
    shape: list[int | None]
    dtype: str


class CardFeatures(_Strict):
    """What rebuilds the input features: the extractor spec, audio options, the rebuilding spec string and options."""

    extractor: dict[str, Any]
    audio: dict[str, Any]
    rebuild: str | None = None
    rebuild_options: dict[str, Any] = {}
    note: str = ""


class ExportCard(_Strict):
    """The schema of ``card.json`` (see :mod:`voxpop.models.export` for what each key means)."""

    format: int
    run: str
    kind: Literal["categorical", "continuous"] = "categorical"
    classes: list[str]
    multilabel: bool
    output: str
    output_name: str
    scale: dict[str, list[float]] = {}
    label_rule: dict[str, Any]
    training_corpus: str
    item_filter: str | None = None
    protocol: dict[str, Any]
    head: str
    input: CardInput
    features: CardFeatures
    folds: dict[str, CardFold]
    prediction: str
    metrics: list[dict[str, Any]]
    rater_output: str | None = None
    raters: dict[str, list[str]] | None = None


def mark_onnx(data: bytes, fold: str, run: str, classes: Sequence[str], folds: Sequence[str]) -> bytes:
    """``data`` (a serialised ONNX model) with the fold, the run, the classes and every fold of the export in its
    metadata (``voxpop.*``).

    Args:
        data: the ONNX model as bytes.
        fold: the fold whose model it is.
        run: the run it comes from (the run's train stage directory name).
        classes: its output columns in order.
        folds: all the folds the export holds, in order (a fold dropped from the card is found by the others).

    Returns:
        The ONNX model as bytes, with the metadata entries set.
    """
    import onnx

    model = onnx.load_model_from_string(data)
    values = {META_FOLD: fold, META_RUN: run, META_CLASSES: json.dumps(list(classes))}
    values[META_FOLDS] = json.dumps(list(folds))
    kept = [p for p in model.metadata_props if p.key not in values]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in values.items():
        model.metadata_props.add(key=key, value=value)
    return model.SerializeToString()


def card_fold(file: str, data: bytes, classes: Sequence[str]) -> dict[str, Any]:
    """The card's entry of one fold: its file name, the SHA-256 of ``data`` (the bytes written) and its classes."""
    return {"file": file, "sha256": hashlib.sha256(data).hexdigest(), "classes": list(classes)}


def read_card(path: Path, notice: Callable[[str], None] = notify) -> ExportCard:
    """Read and validate an export card; a card of format 1 is upgraded (its folds' file names kept, no SHA-256).

    Args:
        path: the ``card.json`` file.
        notice: receives the one-line notice of an upgraded card.

    Returns:
        The :class:`ExportCard`.

    Raises:
        InputError: an unreadable card, a format other than 1 or :data:`CARD_FORMAT`, a key the schema does not
            know or a missing one, no folds, or fold classes that differ from the card's; naming the file (and
            the key).
    """
    raw = read_json_file(path, "export card", REEXPORT)
    if not isinstance(raw, dict):
        raise InputError(f"{path}: not an export card (a JSON object); {REEXPORT}.")
    found = raw.get("format")
    if found == 1 and isinstance(raw.get("folds"), dict) and isinstance(raw.get("classes"), list):
        notice(f"{path}: written by voxpop before card format {CARD_FORMAT}: its ONNX files are not checked against a "
               f"SHA-256; {REEXPORT} to record them.")  # fmt: skip
        raw = {**raw, "format": CARD_FORMAT, "folds": {
            fold: {"file": str(name), "classes": raw["classes"]} for fold, name in raw["folds"].items()
        }}  # fmt: skip
    elif found != CARD_FORMAT:
        newer = isinstance(found, int) and not isinstance(found, bool) and found > CARD_FORMAT
        raise InputError(
            f"{path}, key 'format': {str(found)[:40]}, "
            + (f"written by a newer voxpop (this one reads format {CARD_FORMAT}); update voxpop or {REEXPORT}."
               if newer else f"not an export card format this voxpop reads ({CARD_FORMAT}); {REEXPORT}.")
        )  # fmt: skip
    try:
        card = ExportCard.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise InputError(f"{path}, {validation_problem(exc)} (card format {CARD_FORMAT}); {REEXPORT}.") from None
    if not card.folds:
        raise InputError(f"{path}, key 'folds': empty; an export holds one ONNX model per fold. {REEXPORT[0].upper()}"
                         f"{REEXPORT[1:]}.")  # fmt: skip
    expected = OUTPUT_TEXT.get((card.kind, card.multilabel))
    name = VALUES if card.kind == "continuous" else OUTPUT
    if expected is None or card.output != expected or card.output_name != name:
        raise InputError(
            f"{path}, keys 'kind', 'multilabel', 'output', 'output_name': {excerpt(card.kind)}, {card.multilabel}, "
            f"{excerpt(card.output)}, {excerpt(card.output_name)} do not belong together (the card was edited: each "
            f"changes how the ONNX outputs are read); {REEXPORT}."
        )
    for fold, entry in card.folds.items():
        if entry.classes != card.classes:
            raise InputError(
                f"{path}, key {excerpt(f'folds.{fold}.classes')}: {excerpts(entry.classes)}, but the card's classes "
                f"are {excerpts(card.classes)}: the card was edited (a reordered class list would mislabel every "
                f"prediction); {REEXPORT}."
            )
        if entry.sha256 is None and found == CARD_FORMAT:  # format 2 records every file's digest; format 1: none
            raise InputError(
                f"{path}, key {excerpt(f'folds.{fold}.sha256')}: missing; a card of format {CARD_FORMAT} records the "
                f"SHA-256 of each ONNX file (without it another export's file would pass unchecked); {REEXPORT}."
            )
    return card


def verified_onnx(directory: Path, card: ExportCard, output: str) -> dict[str, bytes]:
    """Each fold's ONNX model as bytes, read once and checked against the card.

    Args:
        directory: the export folder.
        card: its card (:func:`read_card`).
        output: the output whose width must be the number of classes (``probabilities`` or ``values``).

    Returns:
        ``{fold: ONNX bytes}`` in the card's fold order, for ``onnxruntime.InferenceSession``.

    Raises:
        InputError: a listed file missing or outside the folder; an ``.onnx`` file the card does not list; a SHA-256
            other than the card's (another export's file, or a changed one), or the one the card records for another
            fold (files swapped: both named); ONNX metadata naming another fold, other classes or another fold list
            (a fold removed from the card); an output whose width is not the number of the card's classes; naming
            the file.
    """

    path = directory / "card.json"
    listed = {Path(entry.file).name for entry in card.folds.values()}
    extra = sorted(p.name for p in directory.glob("*.onnx") if p.name not in listed)
    if extra:
        raise InputError(f"{directory / extra[0]}: an ONNX file {path} does not list (a fold of another export?); "
                         f"remove it or {REEXPORT}.")  # fmt: skip
    models = {}
    for fold, entry in card.folds.items():
        file = directory / Path(entry.file).name
        if file.is_symlink() or not file.is_file():
            raise InputError(f"{file}: fold {excerpt(fold)} of {path}, missing; {REEXPORT}.")
        data = file.read_bytes()
        model = checked_onnx(file, data)
        digest = hashlib.sha256(data).hexdigest()
        if entry.sha256 is not None and digest != entry.sha256:
            for other, recorded in card.folds.items():
                if other != fold and recorded.sha256 == digest:
                    raise InputError(
                        f"{file}: has the SHA-256 {path} records for fold {other!r} ({Path(recorded.file).name}), "
                        f"not the one of fold {fold!r}: the files were swapped; {REEXPORT}."
                    )
            raise InputError(
                f"{file}: its SHA-256 differs from the one {path} records for fold {excerpt(fold)}: the file was "
                "replaced "
                f"(e.g. by another export's) or changed; {REEXPORT}."
            )
        _check_graph(file, path, fold, model, entry.classes, output)
        _check_fold_list(file, path, model, list(card.folds))
        models[fold] = data
    return models


def _check_fold_list(file: Path, path: Path, model: Any, folds: list[str]) -> None:
    """InputError when the folds an ONNX model's metadata says the export holds are not the card's: a fold removed
    from the card (with its file) would make the predictions average fewer fold models without a word."""
    recorded = next((p.value for p in model.metadata_props if p.key == META_FOLDS), None)
    if recorded is None:  # exported before the fold list was recorded
        return
    try:
        exported = json.loads(recorded)
    except ValueError:
        exported = None
    if exported != folds:
        missing = [f for f in exported if f not in folds] if isinstance(exported, list) else []
        what = f"fold {excerpt(missing[0])} is missing from it" if missing else "its folds differ"
        raise InputError(f"{file}: was exported with the folds {excerpts(exported)}, but {path} lists "
                         f"{excerpts(folds)} ({what}); {REEXPORT}.")  # fmt: skip


def _check_graph(file: Path, path: Path, fold: str, model: Any, classes: list[str], output: str) -> None:
    """InputError when an ONNX model's metadata names another fold or classes, or its output width is not theirs."""
    meta = {p.key: p.value for p in model.metadata_props}
    if META_FOLD in meta and meta[META_FOLD] != fold:
        raise InputError(f"{file}: holds the model of fold {excerpt(meta[META_FOLD])}, but {path} lists it as fold "
                         f"{excerpt(fold)}: the files were swapped; {REEXPORT}.")  # fmt: skip
    if META_CLASSES in meta:
        try:
            recorded = json.loads(meta[META_CLASSES])
        except ValueError:
            recorded = None
        if recorded != classes:
            raise InputError(f"{file}: its model outputs the classes {excerpts(recorded)}, but {path} lists "
                             f"{excerpts(classes)}; {REEXPORT}.")  # fmt: skip
    outputs = {o.name: o for o in model.graph.output}
    if output not in outputs:
        raise InputError(f"{file}: no output {excerpt(output)} (outputs: {excerpts(list(outputs))}); {REEXPORT}.")
    dims = outputs[output].type.tensor_type.shape.dim
    width = dims[-1].dim_value if len(dims) and dims[-1].HasField("dim_value") else None
    if width is not None and width != len(classes):
        raise InputError(f"{file}: output {excerpt(output)} has {width} columns, but {path} lists {len(classes)} "
                         "classes "
                         f"({excerpts(classes)}); {REEXPORT}.")  # fmt: skip
