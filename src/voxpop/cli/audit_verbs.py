"""``voxpop audit``: what each fold's test partition shares with train or dev (speakers, recordings, sentences,
an encoder's training corpora), with the protocol and features flags of ``voxpop train`` or a recipe's
(:mod:`voxpop.study.leakage`)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from voxpop.cli.app import app, console
from voxpop.cli.schema_flags import SchemaFlag, recipe_of_flags, with_schema_flags
from voxpop.cli.train_verbs import NOTES, RECIPE_ONE_OF, flags_named_in_errors, recipe_flags
from voxpop.core.cache import write_text
from voxpop.core.errors import ConfigError

AUDITED_SECTIONS = ("protocol", "features")
"""The recipe sections whose ``voxpop train`` flags ``voxpop audit`` takes."""
STRICT_EXIT = 1
"""Exit code of ``--strict`` with a ``speaker`` or ``audio`` finding."""


def audit_flags(reserved: Sequence[str] = ()) -> list[SchemaFlag]:
    """The flags of ``voxpop train`` that set keys of :data:`AUDITED_SECTIONS` (the protocol and features)."""
    return [
        flag for flag in recipe_flags(reserved)
        if all(key.split(".")[0] in AUDITED_SECTIONS for key in flag.keys)
    ]  # fmt: skip


def _extractor_of(features: str) -> str:
    """``--features``: an extractor spec as given, or for a feature store entry directory the extractor it was
    made with (``ssl:HUB_ID`` or ``ssl:FOLDER`` from its recorded model identity, else the extractor's name)."""
    path = Path(features)
    if not path.is_dir():
        return features
    from voxpop.features import FeatureStore

    spec = FeatureStore(path).meta["extractor"]
    model = spec.get("model") if isinstance(spec.get("model"), dict) else {}
    source = model.get("hub_id") or model.get("path")
    return f"{spec.get('extractor')}:{source}" if source else str(spec.get("extractor"))


def _merged(base: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``given`` over ``base``, mapping by mapping.

    >>> _merged({"speaker_folds": {"k": 3, "seed": 1}}, {"speaker_folds": {"disjoint": ["sentence"]}})
    {'speaker_folds': {'k': 3, 'seed': 1, 'disjoint': ['sentence']}}
    """
    merged = dict(base)
    for key, value in given.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merged(merged[key], value) if both else value
    return merged


def _study(corpus: Path | None, recipe: Path | None, sections: dict[str, Any]) -> Any:
    from voxpop.study import build_study, recipe_from_dict
    from voxpop.study.loading import load_recipe

    if recipe is not None:
        loaded = load_recipe(recipe)
        if corpus is not None or sections:
            data = loaded.model_dump(exclude_unset=True, mode="json")
            data.update({"corpus": {"path": str(corpus.resolve())}, "corpora": {}} if corpus is not None else {})
            for section, keys in sections.items():  # a flag's key over the recipe's; another protocol replaces it
                kept = data.get(section, {})
                if section == "protocol" and set(keys) != set(kept):
                    kept = {}
                data[section] = _merged(kept, keys)
            loaded = recipe_from_dict(data, str(recipe))
        return build_study(loaded, None, str(recipe))
    if corpus is None:
        raise ConfigError("voxpop audit: give a CORPUS directory, or --recipe RECIPE.yaml for its corpus and protocol")
    data = {"study": "audit", "corpus": {"path": str(corpus.resolve())}, **sections}
    return build_study(recipe_from_dict(data, "voxpop audit"), None, "voxpop audit")


@contextlib.contextmanager
def _corpus(study: Any) -> Iterator[Any]:
    """The study's corpus after ``where``: a saved corpus is read; one the recipe imports, synthesises (demo) or
    merges is built as ``voxpop run`` builds it (:func:`voxpop.study.corpus_source.prepare_corpus`), in a temporary
    folder that lasts while the block runs (a demo's audio is there)."""
    from voxpop.core.cache import Cache
    from voxpop.core.progress import Reporter
    from voxpop.corpus import Corpus
    from voxpop.study.corpus_source import prepare_corpus

    recipe = study.recipe
    if study.corpus_stage is None:
        yield Corpus.load(recipe.corpus.path).where(recipe.where)
        return
    with tempfile.TemporaryDirectory(prefix="voxpop-audit-") as folder:
        yield prepare_corpus(study, Cache(Path(folder) / "cache", inside=folder), Reporter())[0]


def print_audit(audit: Any) -> None:
    """The findings (at most 40 rows; ``--out`` keeps all), the summary per kind and the notes."""
    from voxpop.study.leakage import summary_table

    findings = audit.findings
    if len(findings):
        table = Table(title=f"leakage findings ({len(findings):,})", box=box.SIMPLE_HEAD)
        for column in findings.columns:
            table.add_column(column, justify="right" if column == "items" else "left")
        for row in findings.head(40).itertuples(index=False):
            table.add_row(*(escape(str(v)) for v in row))
        console.print(table)
        if len(findings) > 40:
            console.print(f"... {len(findings) - 40:,} more rows (--out FILE.csv keeps them all)", highlight=False)
    summary = Table(title="leakage audit", box=box.SIMPLE_HEAD)
    for column in ("kind", "findings", "folds", "items", "what it means for the scores"):
        summary.add_column(column, justify="right" if column in ("findings", "folds", "items") else "left")
    for row in summary_table(audit).itertuples(index=False):
        summary.add_row(row.kind, f"{row.findings:,}", f"{row.folds:,}", f"{row.items:,}", escape(row.meaning))
    console.print(summary)
    for note in audit.notes:
        console.print(escape(note), highlight=False)


@app.command()
@with_schema_flags(audit_flags, NOTES)
def audit(
    corpus: Path = typer.Argument(
        None, help="Corpus directory (corpus.yaml, items.parquet); with --recipe: instead of the recipe's corpus."
    ),
    recipe: Path = typer.Option(
        None, "--recipe", help="A recipe: its corpus, protocol and extractors (flags given too override them)."
    ),
    features: str = typer.Option(
        None,
        "--features",
        help="An extractor (ssl:microsoft/wavlm-base-plus) or a feature store entry directory "
        "whose pretrained model is checked (default: the recipe's extractors).",
        rich_help_panel="features",
    ),
    text_column: str = typer.Option(
        None,
        "--text-column",
        help="Item column holding the sentence (default: sentence, statement, transcript, "
        "transcription or text, the first the items have).",
    ),
    out: Path = typer.Option(
        None, "--out", help="Write the findings to this CSV (fold, kind, key, partitions, items, example)."
    ),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when a speaker or audio finding is present."),
    flag_values: dict | None = None,
) -> None:
    """Find what each fold's test partition shares with train or dev: speakers, recordings (decoded samples and
    identical files), sentences and the training corpora of pretrained encoders.

    Exit 0 with or without findings, 1 with --strict and a speaker or audio finding, 2 on bad input."""
    from voxpop.study.leakage import audit_study

    with flags_named_in_errors():
        sections = recipe_of_flags(audit.schema_flags, flag_values, RECIPE_ONE_OF)
        study = _study(corpus, recipe, sections)
    extractors = [_extractor_of(features)] if features is not None else None
    with _corpus(study) as items_corpus:
        result = audit_study(study, items_corpus, text_column, extractors)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text(out, result.findings.to_csv(index=False))
        console.print(f"findings: {escape(str(out))}", highlight=False)
    print_audit(result)
    if strict and result.strict_failure():
        raise typer.Exit(STRICT_EXIT)
