"""The one place voxpop reads back files that could carry code or blow up in memory: each loader reads only data,
checks what it can before reading, and turns every failure into an :class:`~voxpop.core.errors.InputError` that
names the file and what to do, never a traceback.

- :func:`load_torch_weights`: ``torch.load(weights_only=True)``; a file that fails it is either "not plain tensors"
  (a well-formed pickle holding more than tensors: it may contain code) or "not a readable weights file".
- :func:`load_arrays` / :func:`load_array`: ``.npz`` / ``.npy`` with ``allow_pickle=False``; each member's header is
  read first, so an object array (pickled Python objects) is named instead of numpy's ``ValueError``.
- :func:`check_archive_size`: the summed uncompressed size of a zip archive's members (a ``.skops`` model), read
  from its central directory before any member, against the ceiling ``model_bytes``
  (:data:`voxpop.core.limits.CEILINGS`).
- :func:`load_onnx`: an ONNX model parsed without its external data, refused when any tensor keeps its data in
  another file (voxpop's exports never do; the path could name any file), checked by onnx; returns its bytes for
  ``onnxruntime.InferenceSession``.
- :func:`read_json_file`: a JSON file voxpop wrote (an export's ``card.json``), with a located error.
- :func:`check_model_folder`: a local Hugging Face model folder whose ``config.json`` (or preprocessor config) asks
  for the model's own code (``auto_map``, or a ``model_type`` transformers does not know) is refused before
  anything is loaded; voxpop never passes ``trust_remote_code``.

docs/safe-loading.md lists what each loader refuses.
"""

from __future__ import annotations

import pickletools
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from voxpop.core.cache import parse_json
from voxpop.core.errors import InputError
from voxpop.core.formatting import excerpt, parse_error
from voxpop.core.limits import CEILINGS, ceiling

_PICKLE_BYTES = 64 << 20
"""The most bytes of a weights file's pickle stream read to tell "holds objects" from "damaged"."""

CODE = "not plain tensors: it may contain code; voxpop does not load it"
"""What a weights file that fails weights-only loading but is a well-formed pickle is called."""


# ====================================================================== torch weights
def load_torch_weights(path: str | Path, fix: str = "retrain the model") -> dict[str, Any]:
    """A state dict (parameter name -> tensor) read with ``torch.load(weights_only=True)``, on the CPU.

    Args:
        path: a ``weights.pt`` written by ``torch.save(state_dict)``.
        fix: what the user should do about a refused file, ending the message.

    Returns:
        The mapping torch read (tensors on the CPU).

    Raises:
        InputError: the file is missing; it is a well-formed pickle that weights-only loading refuses
            ("not plain tensors: it may contain code; voxpop does not load it"); or it is empty, cut off or not a
            torch file ("not a readable weights file").
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: not found; {fix}.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols: the error below says it all
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's weights-only unpickler, zip reader and EOF errors: sorted out below
        if _is_pickle(path):
            raise InputError(f"{path}: {CODE}; {fix}.") from None
        raise InputError(f"{path}: not a readable weights file ({type(exc).__name__}); {fix}.") from None
    if not isinstance(state, dict):
        raise InputError(f"{path}: holds a {type(state).__name__}, not a mapping of tensors (a state dict); {fix}.")
    return state


def _is_pickle(path: Path) -> bool:
    """Whether ``path`` holds a complete pickle stream (a torch zip: its ``data.pkl``), read with ``pickletools``,
    which decodes opcodes and builds nothing: a file weights-only loading refused although it is well formed holds
    objects other than tensors."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                found = [i for i in archive.infolist() if i.filename.rsplit("/", 1)[-1] == "data.pkl"]
                if len(found) != 1 or found[0].file_size > _PICKLE_BYTES:
                    return False
                data = archive.read(found[0])
        else:
            with open(path, "rb") as handle:
                data = handle.read(_PICKLE_BYTES)
        for _ in pickletools.genops(data):
            pass
    except Exception:  # unknown opcode, stream cut off, damaged zip: not a pickle
        return False
    return True


# ====================================================================== numpy arrays
def load_arrays(path: str | Path, names: Sequence[str], what: str, fix: str) -> dict[str, Any]:
    """The arrays ``names`` of an ``.npz`` archive, read with ``allow_pickle=False``.

    Every member's ``.npy`` header is read before any array: an object array (pickled Python objects, which can
    run code when loaded) is refused by name.

    Args:
        path: the ``.npz`` file.
        names: the arrays to read (``mean``, ``scale``).
        what: what the file holds, for messages (``standardisation statistics``).
        fix: what to do about a refused file, ending the message.

    Returns:
        ``{name: numpy array}`` for each of ``names``.

    Raises:
        InputError: the file is missing, not a readable ``.npz`` archive, lacks one of ``names``, or holds an
            object array.

    Example:
        >>> import io, tempfile, numpy as np
        >>> path = Path(tempfile.mkdtemp()) / "s.npz"
        >>> np.savez(path, mean=np.zeros(2), scale=np.array([{}], dtype=object))
        >>> load_arrays(path, ["mean"], "statistics", "retrain")
        Traceback (most recent call last):
        ...
        voxpop.core.errors.InputError: .../s.npz, array 'scale': an object array (pickled Python objects, ...
    """
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: not found; {fix}.")
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as member:
                    _check_npy_header(member, f"{path}, array {excerpt(info.filename.removesuffix('.npy'))}", fix)
        with np.load(path, allow_pickle=False) as data:
            missing = [n for n in names if n not in data.files]
            if missing:
                held = ", ".join(excerpt(n) for n in data.files[:10]) or "none"
                raise InputError(f"{path}: not readable {what}: no array {missing[0]!r} (it holds {held}); {fix}.")
            return {name: np.asarray(data[name]) for name in names}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not readable {what} ({type(exc).__name__}); {fix}.") from None


def load_array(source: str | Path | IO[bytes], where: str, fix: str, mmap: bool = False) -> Any:
    """One ``.npy`` array (a file, or an open binary stream), read with ``allow_pickle=False``.

    Args:
        source: the ``.npy`` file or a binary stream positioned at its start (seekable).
        where: the place for messages (the file, or the file and shard).
        fix: what to do about a refused file, ending the message.
        mmap: memory-map the array read-only (files only).

    Returns:
        The array (a read-only memory map with ``mmap``).

    Raises:
        InputError: an object array, or a file that is not a readable ``.npy`` array.
    """
    import numpy as np

    try:
        if isinstance(source, str | Path):
            with open(source, "rb") as handle:
                _check_npy_header(handle, where, fix)
        else:
            start = source.tell()
            _check_npy_header(source, where, fix)
            source.seek(start)
        return np.load(source, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{where}: not a readable .npy array ({type(exc).__name__}); {fix}.") from None


def _check_npy_header(handle: IO[bytes], where: str, fix: str) -> None:
    """Read one ``.npy`` header from ``handle`` and refuse an object dtype; ValueError when it is no header."""
    from numpy.lib import format as npy

    version = npy.read_magic(handle)
    read = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(version)
    if read is None:
        raise ValueError(f"npy format version {version}")
    _, _, dtype = read(handle)
    if dtype.hasobject:
        raise InputError(
            f"{where}: an object array (pickled Python objects, which can run code when loaded); voxpop writes "
            f"numbers only and does not load it; {fix}."
        )


# ====================================================================== zip archives (skops)
def check_archive_size(path: str | Path, what: str, fix: str) -> int:
    """The summed uncompressed size of a zip archive's members, read from its central directory before any member
    is read, refused above the ceiling ``model_bytes`` (a member that inflates to gigabytes would be killed for
    memory while loading).

    Args:
        path: the archive (a ``.skops`` model).
        what: what the file is, for messages (``skops model file``).
        fix: what to do about a refused file, ending the message.

    Returns:
        The members' summed uncompressed size in bytes.

    Raises:
        InputError: not a readable zip archive, or its members unpack to more than the ceiling (naming the
            environment variable that raises it).
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise InputError(f"{path}: not a readable {what} ({type(exc).__name__}); {fix}.") from None
    limit = ceiling("model_bytes")
    if total > limit:
        variable = CEILINGS["model_bytes"].variable
        raise InputError(
            f"{path}: its members unpack to {total:,} bytes, more than the ceiling of {limit:,} for a {what} "
            f"(damaged or hostile: a voxpop model is far smaller); voxpop does not read it; {fix} (or raise the "
            f"ceiling with the environment variable {variable} if you trust the file)."
        )
    return total


# ====================================================================== ONNX
REEXPORT = "export the run again with 'voxpop export'"


def load_onnx(path: str | Path) -> bytes:
    """An ONNX model's bytes, parsed and checked by :func:`checked_onnx`, for ``onnxruntime.InferenceSession(bytes)``
    (so no path inside the model is ever opened).

    Args:
        path: a ``<fold>.onnx`` file of an export.

    Returns:
        The file's bytes.

    Raises:
        InputError: the file is missing or fails :func:`checked_onnx`; each says to export again.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: not found; {REEXPORT}.")
    data = path.read_bytes()
    checked_onnx(path, data)
    return data


def checked_onnx(path: Path, data: bytes) -> Any:
    """Parse an ONNX model from its bytes without loading external data, and check it.

    Args:
        path: the file ``data`` was read from (for messages).
        data: its bytes.

    Returns:
        The parsed ``onnx.ModelProto``.

    Raises:
        InputError: not a readable ONNX model (damaged, cut off, no graph, fails onnx's checker), or a tensor keeps its
            data in an external file (voxpop's exports never do); each says to export again.
    """
    import onnx
    from onnx.external_data_helper import uses_external_data

    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and onnx's own errors all mean a damaged file
        raise InputError(f"{path}: not a readable ONNX model ({type(exc).__name__}); {REEXPORT}.") from None
    external = [t.name for t in _tensors(model.graph) if uses_external_data(t)]
    if external:
        raise InputError(
            f"{path}: tensor {excerpt(external[0])} ({len(external)} in all) keeps its data in an external file; "
            f"voxpop's exports hold all their data in the .onnx file, and an external path can name any file on "
            f"this machine, so voxpop does not load it; {REEXPORT}."
        )
    if not model.graph.node or not model.graph.output:
        raise InputError(f"{path}: not a readable ONNX model (no graph); {REEXPORT}.")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx.checker.ValidationError and friends
        problem = excerpt(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 80)
        raise InputError(f"{path}: not a valid ONNX model ({problem}); {REEXPORT}.") from None
    return model


def _tensors(graph: Any) -> Iterator[Any]:
    """Every tensor of an ONNX graph: its initializers and the tensors of node attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            for sub in [attribute.g] if attribute.HasField("g") else []:
                yield from _tensors(sub)
            for sub in attribute.graphs:
                yield from _tensors(sub)


# ====================================================================== JSON files voxpop wrote
def read_json_file(path: str | Path, what: str, fix: str) -> Any:
    """A JSON file (UTF-8, no key given twice) as its value, with a located error quoting none of its text.

    Args:
        path: the file (an export's ``card.json``).
        what: what it holds, for messages (``export card``).
        fix: what to do about a damaged file, ending the message.

    Raises:
        InputError: missing, unreadable, not UTF-8 or not JSON (with line and column, :func:`parse_error`).
    """
    path = Path(path)
    try:
        return parse_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: not found; {fix}.") from None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InputError(f"{path}: not a readable {what} ({parse_error(exc)}); {fix}.") from None


# ====================================================================== Hugging Face model folders
MODEL_FOLDER_FILES = ("config.json", "preprocessor_config.json")
"""The files of a local Hugging Face model folder read before the model is loaded."""

NATIVE = "use a model transformers supports itself (wav2vec 2.0, HuBERT, WavLM, data2vec-audio)"


def check_model_folder(path: str | Path) -> None:
    """Refuse a local Hugging Face model folder that asks for the model's own code, before anything is loaded.

    transformers runs code shipped with a model only with ``trust_remote_code``, which voxpop never passes; such a
    folder then fails late, or, with a cached copy of the code, could run it. This reads :data:`MODEL_FOLDER_FILES`
    as JSON and refuses an ``auto_map`` key (a model class in the folder's or the Hub's own code) and a
    ``model_type`` that transformers does not know (only remote code could build it). A Hub id (not a folder) is
    left to transformers, which refuses remote code itself.

    Args:
        path: the model folder (or a Hub id, which is not checked here).

    Raises:
        InputError: a file of :data:`MODEL_FOLDER_FILES` is not a JSON object; it has ``auto_map``; ``config.json``
            names no ``model_type`` transformers knows. The message names the file and the key.
    """
    path = Path(path)
    if not path.is_dir():
        return
    for name in MODEL_FOLDER_FILES:
        file = path / name
        if not file.is_file():
            continue
        fix = "restore the file or download the model again"
        config = read_json_file(file, f"model configuration (JSON) of the Hugging Face model folder {path}", fix)
        if not isinstance(config, dict):
            raise InputError(f"{file}: expected a JSON object of settings, got {type(config).__name__}; {fix}.")
        if "auto_map" in config:
            raise InputError(
                f"{file}, key 'auto_map': the model asks to be built by its own code (remote code), which voxpop never "
                f"runs, so nothing of it was loaded; {NATIVE}."
            )
        if name == "config.json":
            _check_model_type(file, config.get("model_type"))


def _check_model_type(file: Path, model_type: object) -> None:
    from transformers import CONFIG_MAPPING

    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        raise InputError(
            f"{file}, key 'model_type': {excerpt(model_type)} is not a model type this transformers knows; only the "
            f"model's own code (remote code, which voxpop never runs) could build it, so nothing was loaded; {NATIVE}."
        )
