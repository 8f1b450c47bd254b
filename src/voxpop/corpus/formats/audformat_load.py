"""Loading an audformat database (what ``audb.load`` delivers) as data: never code, never a silent loss.

An audformat database folder holds the header ``db.yaml`` (schemes, raters, splits, the tables and their
columns) and one file per table, ``db.<table>.csv`` or ``db.<table>.parquet`` (audb's cache adds
``db.<table>.pkl``). :func:`load_database` reads it through the ``audformat`` library with three guards:

- the header is parsed with a safe YAML parser (:func:`voxpop.core.cache.parse_yaml`) and handed to
  ``audformat.Database.load_header_from_yaml``: ``audformat.Database.load`` parses it with PyYAML's full
  loader, which can construct Python objects;
- a table is read from its CSV or Parquet file only: a ``.pkl`` beside it (which ``audformat`` would
  prefer) is never opened, since unpickling runs code; a table stored only as ``.pkl`` is refused;
- every reference is checked before use (a column's scheme and rater, a scheme's labels table, a rater's
  type), and a cell that ``audformat`` empties because it is not a label of its scheme is an error naming
  the file, row and column, never a missing rating.
"""

from __future__ import annotations

import dataclasses
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from voxpop.core.cache import parse_yaml
from voxpop.core.errors import ConfigError, InputError, where
from voxpop.core.formatting import excerpt
from voxpop.corpus.formats.tables import read_text

HEADER = "db.yaml"
RATER_TYPES = ("human", "machine", "other", "ground truth", "vote")
TABLE_SUFFIXES = ("parquet", "csv")


@dataclasses.dataclass
class LoadedDatabase:
    """An audformat database with its tables loaded: the ``audformat.Database``, its root and file names."""

    db: Any  # audformat.Database
    root: Path
    header: str  # the header file name, for messages
    table_files: dict[str, str]  # table id -> the file its data came from (name only)


def load_database(path: str | Path) -> LoadedDatabase:
    """Read the audformat database at ``path`` (its folder, or its header ``db.yaml``) with every table loaded.

    Args:
        path: the database root (the folder holding ``db.yaml``) or the header file itself.

    Returns:
        A :class:`LoadedDatabase`; ``root`` is the folder the media paths of the tables are relative to.

    Raises:
        InputError: no header at ``path``; a header that is not YAML or not an audformat header; a column
            naming a scheme or rater the header does not define; a rater of unknown type; a table without
            its ``.csv`` / ``.parquet`` file (or only a ``.pkl``); a table file that cannot be read; a cell
            whose value is not a label of its column's scheme. Each message names the file.
        ConfigError: the ``audformat`` package is not installed.

    Example:
        >>> load_database("no-such-folder")
        Traceback (most recent call last):
        voxpop.core.errors.InputError: no-such-folder: no audformat header db.yaml here; ...
    """
    path = Path(path)
    header_path = path if path.suffix in (".yaml", ".yml") else path / HEADER
    if not header_path.is_file():
        raise InputError(
            f"{path}: no audformat header {HEADER} here; an audformat database folder holds {HEADER} and one "
            "db.<table>.csv or .parquet file per table (what audb.load delivers). Give that folder."
        )
    root = header_path.parent
    file = header_path.name
    try:
        header = parse_yaml(read_text(header_path, "audformat header"))
    except yaml.YAMLError as exc:
        raise InputError(f"{header_path}: not valid YAML: {exc}") from None
    if not isinstance(header, dict):
        raise InputError(
            f"{header_path}: expected an audformat header (a mapping with name, schemes, raters, tables), "
            f"got {type(header).__name__} {excerpt(header)}."
        )
    audformat = _audformat()
    try:
        db = audformat.Database.load_header_from_yaml(header)
    except Exception as exc:  # audformat raises many types for a malformed header; all mean the same here
        raise InputError(f"{header_path}: not an audformat header ({type(exc).__name__}: {exc}).") from None
    check_references(db, file)
    name = header_path.stem
    table_files = _load_tables(db, root, name)
    return LoadedDatabase(db, root, file, table_files)


def _audformat() -> Any:
    try:
        import audformat
    except ImportError:
        raise ConfigError(
            "importing an audformat database needs the audformat package: pip install audformat "
            "(or pip install 'voxpop[audformat]')."
        ) from None
    return audformat


def check_references(db: Any, file: str) -> None:
    """Refuse a header whose columns name undefined schemes or raters, whose raters or labels are unknown, or whose
    table ids hold a path separator (a table file is ``db.<id>.csv``: its id must not lead out of the folder).

    ``audformat.Database.load_header_from_yaml`` accepts these and fails later, far from the cause.

    Raises:
        InputError: naming ``file``, the table and column (or the rater / scheme) and the defined names.
    """
    for rater_id, rater in db.raters.items():
        if rater.type not in RATER_TYPES:
            raise InputError(
                f"{file}, raters.{rater_id}.type: {rater.type!r} is not an audformat rater type; expected one of "
                f"{', '.join(RATER_TYPES)}."
            )
    for scheme_id, scheme in db.schemes.items():
        if isinstance(scheme.labels, str) and scheme.labels not in db.misc_tables:
            raise InputError(
                f"{file}, schemes.{scheme_id}.labels: names the table {scheme.labels!r}, which is not among the "
                f"misc_tables ({', '.join(db.misc_tables) or 'none'})."
            )
    for table_id, table in [*db.misc_tables.items(), *db.tables.items()]:
        if any(sep in str(table_id) for sep in ("/", "\\", "\0")):
            raise InputError(
                f"{file}, table {table_id!r}: a table id names the file db.<id>.csv beside the header, so it must not "
                "hold a path separator or NUL."
            )
        for column_id, column in table.columns.items():
            place = f"{file}, table {table_id!r}, column {column_id!r}"
            for kind, ref, defined in (("scheme", column.scheme_id, db.schemes), ("rater", column.rater_id, db.raters)):
                if ref is not None and ref not in defined:
                    raise InputError(
                        f"{place}: {kind} {ref!r} is not defined under '{kind}s' (defined: "
                        f"{', '.join(map(str, defined)) or 'none'}); add it there or fix the column's {kind}_id."
                    )


def _load_tables(db: Any, root: Path, name: str) -> dict[str, str]:
    """Load every table (misc tables first: schemes take their labels from them) from CSV or Parquet.

    Each table file is linked into a fresh folder holding nothing else, so ``audformat`` finds no ``.pkl``.
    """
    files = {}
    with tempfile.TemporaryDirectory(prefix="voxpop-audformat-") as clean:
        for table_id, table in [*db.misc_tables.items(), *db.tables.items()]:
            base = f"{name}.{table_id}"
            found = [root / f"{base}.{suffix}" for suffix in TABLE_SUFFIXES if (root / f"{base}.{suffix}").is_file()]
            if not found:
                pickled = (root / f"{base}.pkl").is_file()
                raise InputError(
                    f"{root / base}.pkl: voxpop does not read pickle files (unpickling runs code); table {table_id!r} "
                    f"needs {base}.csv or {base}.parquet beside it."
                    if pickled
                    else f"{root}: table {table_id!r} of {name}.yaml has no file {base}.csv or {base}.parquet."
                )
            source = found[0]
            _link(source, Path(clean) / source.name)
            try:
                table.load(os.path.join(clean, base))
            except Exception as exc:  # pyarrow / pandas / audformat errors for a damaged table: one meaning
                raise InputError(
                    f"{source}: cannot be read as audformat table {table_id!r} ({type(exc).__name__}: {exc}); "
                    "its columns must match the header's and hold values of their schemes."
                ) from None
            check_lost_values(table, source, table_id)
            files[table_id] = source.name
    return files


def _link(source: Path, target: Path) -> None:
    try:
        os.symlink(os.path.abspath(source), target)
    except OSError:  # a file system without symbolic links: a copy of the table file
        target.write_bytes(source.read_bytes())


def check_lost_values(table: Any, source: Path, table_id: str) -> None:
    """Refuse a cell that ``audformat`` read as empty although the file holds a value (not a label of its scheme).

    Raises:
        InputError: naming the file, row (1-based data row), column, the value and the scheme's labels.
    """
    labelled = {
        column_id: column
        for column_id, column in table.columns.items()
        if column.scheme_id is not None and table.db.schemes[column.scheme_id].labels is not None
    }
    if not labelled:
        return
    raw = _raw_columns(source, list(labelled))
    loaded = table.df
    if len(raw) != len(loaded):
        raise InputError(
            f"{source}: holds {len(raw)} data rows as a CSV table, but audformat read {len(loaded)}; check the file "
            "for blank or broken lines."
        )
    for column_id, column in labelled.items():
        if column_id not in raw:
            continue
        text = raw[column_id]
        lost = text.notna().to_numpy() & loaded[column_id].isna().to_numpy()
        if lost.any():
            row = int(lost.argmax())
            labels = table.db.schemes[column.scheme_id].labels_as_list
            shown = ", ".join(map(str, labels[:12])) + (" ..." if len(labels) > 12 else "")
            raise InputError(
                f"{where(source.name, row + 1, column_id)}: {text.iat[row]!r} is not a label of scheme "
                f"{column.scheme_id!r} ({shown}); {int(lost.sum())} such cells in table {table_id!r}. Add the label "
                "to the scheme in the header or correct the cells."
            )


def _raw_columns(source: Path, columns: list[str]) -> pd.DataFrame:
    """The named columns of a table file as text, empty cells missing, in file order (UTF-8, as audformat reads)."""
    try:
        if source.suffix == ".parquet":
            import pyarrow.parquet as pq

            names = [c for c in columns if c in pq.read_schema(source).names]
            return pq.read_table(source, columns=names).to_pandas().astype("string")
        text = read_text(source, "audformat table", "utf-8")
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except (ValueError, OSError, pd.errors.ParserError) as exc:  # pyarrow's errors are ValueErrors or OSErrors
        raise InputError(f"{source}: cannot be read as a table ({type(exc).__name__}: {exc}).") from None
    return frame[[c for c in columns if c in frame.columns]]
