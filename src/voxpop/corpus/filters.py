"""Item filters (``--where``, recipe key ``where``): a small expression language, parsed, never executed.

A filter keeps the items (rows of ``Corpus.items``) for which it is true, e.g.
``acted == True and speaker in ['1001', '1002']`` or ``1 < duration < 5 and not flagged``. The text is
parsed with Python's :mod:`ast` and only this grammar is accepted (:data:`ALLOWED`):

- names of item columns; a name that is not an identifier in backticks (`` `intended intensity` ``);
  ``item`` (or ``index``) is the item id unless a column has that name;
- constants: numbers (with unary minus), ``'text'``, ``True``, ``False``, ``None``; lists or tuples of
  constants;
- comparisons ``== != < <= > >= in``, ``not in``, also chained (``1 < duration < 5``);
- ``and``, ``or``, ``not``, parentheses, and ``column.isna()`` / ``column.notna()``;
- string tests on text columns with one text literal: ``column.str.startswith('Ses01')``,
  ``column.str.endswith('_F000')``, ``column.str.contains('impro')`` (a literal substring, never a regular
  expression); a missing value passes none of them, and a column that is not text is an error.

Everything else (function calls, attributes, indexing, ``@name``, lambdas, comprehensions, f-strings,
arithmetic, ``:=`` ...) is refused with a :class:`~voxpop.core.errors.ConfigError` that points at it.

Results equal those of ``DataFrame.query`` (pandas' python engine), which voxpop used before: every
operation is the pandas operation that ``query`` applies. In particular, as in ``query``:

- ``==`` / ``!=`` with a text constant or a list mean ``isin`` / ``~isin``, so a missing value is never
  ``== 'x'`` and always ``!= 'x'`` (in every column type), and ``in`` / ``not in`` likewise;
- other comparisons follow the column type: in a float column NaN compares false except ``!=``
  (true); in nullable columns (``boolean``, ``Int64``) a comparison with a missing value is missing;
- ``not``, ``and``, ``or`` are ``~``, ``&``, ``|`` on the columns (missing propagates in nullable
  columns); an item whose result is missing is not kept.
"""

from __future__ import annotations

import ast
import dataclasses
import operator
import unicodedata
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError

ALLOWED = (
    "Allowed: item column names (`backticks` around names that are not identifiers; item for the item id), "
    "constants (numbers, -5, 'text', True, False, None), lists or tuples of constants, comparisons "
    "== != < <= > >= in, not in (also chained: 1 < duration < 5), and / or / not, parentheses, "
    "column.isna() / column.notna(), and on text columns column.str.startswith('text') / "
    ".str.endswith('text') / .str.contains('text') with one text literal."
)
MAX_LENGTH = 10_000
_METHODS = ("isna", "notna")
STRING_TESTS = ("startswith", "endswith", "contains")
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_MEMBERSHIP = (ast.In, ast.NotIn)
_REFUSED = {
    ast.Call: "a function or method call",
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing with [...]",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.NamedExpr: "an assignment (:=)",
    ast.IfExp: "a conditional expression (x if c else y)",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.Starred: "unpacking with *",
    ast.Slice: "a slice",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


@dataclasses.dataclass(frozen=True)
class _Source:
    """The filter text, the parsed form of it (backtick names replaced by identifiers) and the way back."""

    expression: str
    parsed: str
    backticks: dict[str, str]  # identifier in ``parsed`` -> column name written in backticks
    shifts: tuple[tuple[int, int, int, int], ...]  # (parsed start, parsed length, original start, original length)

    def original(self, position: int) -> int:
        """The offset in ``expression`` of offset ``position`` of ``parsed``."""
        shift = 0
        for start, length, orig_start, orig_length in self.shifts:
            if position < start:
                break
            if position < start + length:  # inside a replaced name
                return orig_start if position == start else orig_start + orig_length
            shift = orig_start + orig_length - (start + length)
        return position + shift

    def span(self, node: ast.AST) -> tuple[int, int]:
        """``(start, end)`` offsets of ``node`` in ``expression`` (ast columns count UTF-8 bytes)."""
        lines = self.parsed.split("\n")

        def offset(line: int, column: int) -> int:
            before = sum(len(text) + 1 for text in lines[: line - 1])
            return self.original(before + len(lines[line - 1].encode()[:column].decode(errors="ignore")))

        return offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset)

    def text(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.expression[start:end]

    def error(self, message: str, start: int | None = None, end: int | None = None, hint: str = "") -> ConfigError:
        """A ConfigError quoting the filter, with a caret line under ``start:end`` when given, then ``hint``."""
        lines = [f"item filter {self.expression!r}: {message}"]
        if start is not None:
            shown = self.expression.replace("\n", " ").replace("\r", " ").replace("\t", " ")
            width = max(1, (end if end is not None else start + 1) - start)
            lines += [f"    {shown}", "    " + " " * start + "^" * width]
        return ConfigError("\n".join([*lines, hint] if hint else lines))

    def refuse(self, node: ast.AST, what: str) -> ConfigError:
        start, end = self.span(node)
        return self.error(f"{what} is not allowed in a filter.", start, end, ALLOWED)


def _prepare(expression: str) -> _Source:
    """Drop leading blanks; replace each `` `name` `` outside string literals by a fresh identifier; refuse ``@``."""
    prefix = "bq"
    while prefix in expression:
        prefix += "_"
    i = len(expression) - len(expression.lstrip())
    parsed: list[str] = []
    backticks: dict[str, str] = {}
    shifts = [(0, 0, 0, i)] if i else []
    quote = ""
    source = _Source(expression, expression, {}, ())
    while i < len(expression):
        char = expression[i]
        if quote:
            if char == "\\":
                parsed.append(expression[i : i + 2])
                i += 2
                continue
            if expression.startswith(quote, i):
                quote, step = "", len(quote)
                parsed.append(expression[i : i + step])
                i += step
                continue
        elif char in "'\"":
            quote = char * 3 if expression.startswith(char * 3, i) else char
            parsed.append(quote)
            i += len(quote)
            continue
        elif char == "@":
            raise source.error("'@' (a reference to a Python variable) is not allowed in a filter.", i, i + 1, ALLOWED)
        elif char == "`":
            end = expression.find("`", i + 1)
            if end < 0:
                raise source.error("a backtick-quoted column name is not closed with a second backtick.", i, i + 1)
            if end == i + 1:
                raise source.error("empty column name between backticks.", i, i + 2)
            name = f"{prefix}{len(backticks)}"
            backticks[name] = expression[i + 1 : end]
            shifts.append((sum(map(len, parsed)), len(name), i, end + 1 - i))
            parsed.append(name)
            i = end + 1
            continue
        parsed.append(char)
        i += 1
    return _Source(expression, "".join(parsed), backticks, tuple(shifts))


@dataclasses.dataclass(frozen=True)
class ItemFilter:
    """A parsed, checked item filter (docs/filters.md); :meth:`mask` evaluates it on an items table.

    Build one with :meth:`parse`, not with the constructor.

    Attributes:
        source: the expression's text, kept for messages.
        tree: its checked syntax tree (``ast.Expression``), evaluated by :meth:`mask` without ``eval``.

    Example:
        >>> items = pd.DataFrame({"speaker": ["1001", "1002", "1003"], "duration": [0.5, 2.0, 7.5]},
        ...                      index=pd.Index(["a", "b", "c"], name="item"))
        >>> ItemFilter.parse("speaker != '1002' and 1 < duration < 10").mask(items).tolist()
        [False, False, True]
        >>> ItemFilter.parse("speaker.to_csv('out.csv')")
        Traceback (most recent call last):
        ...
        voxpop.core.errors.ConfigError: item filter "speaker.to_csv('out.csv')": a function or method call is not ...
            speaker.to_csv('out.csv')
            ^^^^^^^^^^^^^^^^^^^^^^^^^
        Allowed: item column names ...
    """

    source: _Source
    tree: ast.Expression

    @classmethod
    def parse(cls, expression: str) -> ItemFilter:
        """Parse and check ``expression``; raises :class:`ConfigError` for anything outside the grammar."""
        if not isinstance(expression, str):
            raise ConfigError(f"item filter {expression!r}: expected text such as \"speaker == '1001'\".")
        if len(expression) > MAX_LENGTH:
            raise ConfigError(f"item filter of {len(expression):,} characters: at most {MAX_LENGTH:,} are allowed.")
        source = _prepare(expression)
        try:
            tree = ast.parse(source.parsed, mode="eval")
            cls._check(source, tree.body)
        except SyntaxError as exc:
            line_start = _line_start(source.parsed, exc.lineno or 1)
            column = exc.offset - 1 if exc.offset else len(source.parsed.split("\n")[(exc.lineno or 1) - 1])
            start = source.original(line_start + column)
            raise source.error(f"not a valid expression ({exc.msg}).", start, start + 1, ALLOWED) from None
        except (RecursionError, MemoryError):
            raise source.error("nested too deeply; write a flatter expression.") from None
        return cls(source, tree)

    # ----------------------------------------------------------------- checking
    @classmethod
    def _check(cls, source: _Source, node: ast.AST) -> None:
        """Refuse any node outside the grammar (the module docstring), pointing at it."""
        if isinstance(node, ast.BoolOp):
            for value in node.values:
                cls._check(source, value)
        elif isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                cls._check(source, node.operand)
            elif isinstance(node.op, ast.USub):
                if not _is_negative_number(node):
                    raise source.refuse(node, "unary minus on something other than a number")
            elif isinstance(node.op, ast.Invert):
                raise source.refuse(node, "'~' (use 'not')")
            else:
                raise source.refuse(node, "unary '+'")
        elif isinstance(node, ast.Compare):
            cls._check_compare(source, node)
        elif isinstance(node, ast.Name):
            pass
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, str | int | float | None):
                raise source.refuse(node, f"the constant {source.text(node)}")
        elif isinstance(node, ast.Call) and _is_null_test(node):
            pass
        elif isinstance(node, ast.Call) and _on_str(node.func):
            cls._check_string_test(source, node)
        elif isinstance(node, ast.List | ast.Tuple):
            raise source.refuse(node, "a list outside a comparison (write: column in [...])")
        elif isinstance(node, ast.BinOp):
            hint = " (use 'and' / 'or' instead of '&' / '|')" if isinstance(node.op, ast.BitAnd | ast.BitOr) else ""
            raise source.refuse(node, f"an arithmetic or bitwise operator{hint}")
        else:
            raise source.refuse(node, _REFUSED.get(type(node), f"{type(node).__name__}"))

    @classmethod
    def _check_string_test(cls, source: _Source, node: ast.Call) -> None:
        """``column.str.METHOD('text')``: a method of :data:`STRING_TESTS` and one text literal, nothing else."""
        method = node.func.attr
        example = f"{source.text(node.func.value.value)}.str.startswith('Ses01')"
        if method not in STRING_TESTS:
            start, end = source.span(node)
            raise source.error(
                f"'.str.{method}' is not allowed in a filter; the string tests are "
                f"{', '.join(f'.str.{m}' for m in STRING_TESTS)} (e.g. {example}).",
                start,
                end,
                ALLOWED,
            )
        literal = [a for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if len(node.args) != 1 or len(literal) != 1 or node.keywords:
            extra = [*node.args[1:], *node.keywords]
            bad = extra[0] if extra else (node.args[0] if node.args else node)
            start, end = source.span(bad)
            raise source.error(
                f"'.str.{method}' takes one text literal in quotes and nothing else (e.g. {example}); found "
                f"{source.text(node)!r}.",
                start,
                end,
                ALLOWED,
            )

    @classmethod
    def _check_compare(cls, source: _Source, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands[:-1], operands[1:], strict=True):
            if type(op) not in _COMPARE and not isinstance(op, _MEMBERSHIP):
                word = "'is' / 'is not' (use == / != or column.isna())"
                raise source.refuse(node, word if isinstance(op, ast.Is | ast.IsNot) else type(op).__name__)
            for side in (left, right):
                if isinstance(side, ast.List | ast.Tuple):
                    if not isinstance(op, ast.In | ast.NotIn | ast.Eq | ast.NotEq) or side is left:
                        raise source.refuse(side, "a list here (lists go on the right of in, not in, == or !=)")
                    for element in side.elts:
                        if not (_is_constant(element) or _is_negative_number(element)):
                            raise source.refuse(element, "a list element that is not a constant")
                        cls._check(source, element)
                else:
                    cls._check(source, side)
            if isinstance(op, ast.In | ast.NotIn) and not isinstance(right, ast.List | ast.Tuple):
                raise source.refuse(right, "'in' without a list (write: column in ['a', 'b'])")
            if not (_is_per_item(left) or _is_per_item(right)):
                raise source.refuse(node, "a comparison without a column")

    # ----------------------------------------------------------------- evaluation
    def mask(self, items: pd.DataFrame) -> pd.Series:
        """Per item (row of ``items``) whether the filter keeps it: a bool Series indexed like ``items``.

        Raises :class:`ConfigError` naming an unknown column (and listing the columns), or the part of
        the filter that cannot be applied to the column types (e.g. ``text < 3``).
        """
        self._check_names(items)
        return self._as_mask(self._evaluate(self.tree.body, items), items, self.tree.body)

    def clauses(self) -> list[tuple[str, ItemFilter]]:
        """The top-level clauses (the operands of a top-level ``and`` / ``or``; else the whole filter)."""
        body = self.tree.body
        parts = body.values if isinstance(body, ast.BoolOp) else [body]
        return [(self.source.text(part), ItemFilter(self.source, ast.Expression(part))) for part in parts]

    def _check_names(self, items: pd.DataFrame) -> None:
        names = [n for n in ast.walk(self.tree) if isinstance(n, ast.Name)]
        unknown = sorted((n for n in names if self._resolve(n.id, items) is None), key=self.source.span)
        if unknown:
            columns = ", ".join(repr(c) for c in items.columns) or "(none)"
            wrong = ", ".join(dict.fromkeys(repr(self.source.backticks.get(n.id, n.id)) for n in unknown))
            index = f" (and {items.index.name or 'index'!r} for the item id)"
            raise self.source.error(
                f"unknown column {wrong}; the item columns are {columns}{index}.", *self.source.span(unknown[0])
            )

    def _resolve(self, name: str, items: pd.DataFrame) -> pd.Series | None:
        column = self.source.backticks.get(name, name)
        if column in items.columns:
            found = items[column]
            return _nfc_text(found) if isinstance(found, pd.Series) else None
        if name in self.source.backticks or name not in (items.index.name, "index"):
            return None
        return _nfc_text(pd.Series(items.index, index=items.index, name=name))

    def _evaluate(self, node: ast.AST, items: pd.DataFrame) -> Any:
        if isinstance(node, ast.Name):
            return self._resolve(node.id, items)
        if isinstance(node, ast.Constant):
            return unicodedata.normalize("NFC", node.value) if isinstance(node.value, str) else node.value
        if isinstance(node, ast.List | ast.Tuple):
            return [self._evaluate(e, items) for e in node.elts]
        if isinstance(node, ast.Call) and _on_str(node.func):  # column.str.startswith('x'), checked by _check
            return self._string_test(node, items)
        if isinstance(node, ast.Call):  # column.isna() / column.notna(), checked by _check
            return getattr(self._evaluate(node.func.value, items), node.func.attr)()
        try:
            if isinstance(node, ast.UnaryOp):
                operand = self._evaluate(node.operand, items)
                return -operand if isinstance(node.op, ast.USub) else ~self._as_operand(operand, node.operand)
            if isinstance(node, ast.BoolOp):
                combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_
                values = [self._as_operand(self._evaluate(v, items), v) for v in node.values]
                result = values[0]
                for value in values[1:]:
                    result = combine(result, value)
                return result
            assert isinstance(node, ast.Compare)
            operands = [self._evaluate(v, items) for v in (node.left, *node.comparators)]
            result = None
            for op, left, right in zip(node.ops, operands[:-1], operands[1:], strict=True):  # chained: pairwise and
                part = _compare(op, left, right)
                result = part if result is None else result & part
            return result
        except (TypeError, ValueError) as exc:
            start, end = self.source.span(node)
            raise self.source.error(f"cannot evaluate {self.source.text(node)!r} ({exc}).", start, end) from None

    def _string_test(self, node: ast.Call, items: pd.DataFrame) -> pd.Series:
        """``column.str.METHOD('text')`` on a text column (boolean, missing where the value is); literal, no regex."""
        name = node.func.value.value
        column = self._evaluate(name, items)
        text = pd.api.types.is_string_dtype(column.dtype) and (
            column.dtype != object or column.map(lambda v: isinstance(v, str) or pd.isna(v)).all()
        )
        if not text:
            label = self.source.backticks.get(name.id, name.id)
            raise self.source.error(
                f"'.str.{node.func.attr}' tests text, but column {label!r} holds {column.dtype} values; compare "
                f"it with == != < <= > >= or in instead.",
                *self.source.span(node),
            )
        method = getattr(column.astype("string").str, node.func.attr)
        argument = node.args[0].value
        return method(argument, regex=False) if node.func.attr == "contains" else method(argument)

    def _as_operand(self, value: Any, node: ast.AST) -> Any:
        if not isinstance(value, pd.Series):
            raise self.source.error(
                f"{self.source.text(node)!r} is a constant, not a column or comparison.", *self.source.span(node)
            )
        return value

    def _as_mask(self, value: Any, items: pd.DataFrame, node: ast.AST) -> pd.Series:
        """``value`` as the bool mask ``DataFrame.loc`` would use: a missing result keeps no item."""
        value = self._as_operand(value, node)
        if value.dtype == object and value.map(lambda v: isinstance(v, bool | np.bool_)).all():
            value = value.astype(bool)
        if not pd.api.types.is_bool_dtype(value.dtype):
            raise self.source.error(
                f"gives {value.dtype} values, not True / False per item; compare the column (e.g. "
                f"{self.source.text(node)} == ...) or test it with .isna() / .notna().",
                *self.source.span(node),
            )
        return value.fillna(False).astype(bool).set_axis(items.index)


def _nfc_text(column: pd.Series) -> pd.Series:
    """A text column with each text in Unicode NFC (``café`` typed in a filter is NFC; a column may hold the
    decomposed form, which looks the same), so text tests and comparisons see what the user sees; other columns
    as they are."""
    if not (pd.api.types.is_string_dtype(column.dtype) or column.dtype == object):
        return column
    return column.map(lambda v: unicodedata.normalize("NFC", v) if isinstance(v, str) else v).astype(column.dtype)


def _compare(op: ast.cmpop, left: Any, right: Any) -> Any:
    """One comparison as ``DataFrame.query`` does it: ``==`` / ``!=`` with text or a list is ``isin``."""
    membership = isinstance(op, _MEMBERSHIP) or (
        isinstance(op, ast.Eq | ast.NotEq) and any(isinstance(v, str | list) for v in (left, right))
    )
    if not membership:
        return _COMPARE[type(op)](left, right)
    series, values = (left, right) if isinstance(left, pd.Series) else (right, left)
    if not isinstance(series, pd.Series):  # two constants: the checker refuses this before evaluation
        raise TypeError("a comparison needs a column")
    kept = series.isin(values if isinstance(values, list) else [values])
    return kept if isinstance(op, ast.Eq | ast.In) else ~kept


def _is_constant(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant)


def _is_negative_number(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and _is_constant(node.operand)
        and isinstance(node.operand.value, int | float)
        and not isinstance(node.operand.value, bool)
    )


def _is_null_test(node: ast.Call) -> bool:
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr in _METHODS
        and isinstance(func.value, ast.Name)
        and not node.args
        and not node.keywords
    )


def _on_str(func: ast.AST) -> bool:
    """Whether a call's function is ``column.str.METHOD`` (which method and arguments: checked by the caller)."""
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "str"
        and isinstance(func.value.value, ast.Name)
    )


def _is_per_item(node: ast.AST) -> bool:
    """Whether ``node`` gives one value per item: a column, a null or string test, a comparison, and / or / not."""
    return (
        isinstance(node, ast.Name | ast.Compare | ast.BoolOp)
        or (isinstance(node, ast.Call) and (_is_null_test(node) or _on_str(node.func)))
        or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not))
    )


def _line_start(text: str, line: int) -> int:
    return sum(len(part) + 1 for part in text.split("\n")[: line - 1])


def select_items(items: pd.DataFrame, expression: str) -> pd.Index:
    """The ids (index values of ``items``) of the items that filter ``expression`` keeps, in table order.

    Raises :class:`ConfigError` when the filter is outside the grammar (see :class:`ItemFilter`), names
    an unknown column, or keeps no item (the message gives how many items each top-level clause keeps).
    """
    item_filter = ItemFilter.parse(expression)
    kept = item_filter.mask(items)
    if kept.any():
        return items.index[kept.to_numpy()]
    counts = "; ".join(f"{text!r} keeps {int(part.mask(items).sum()):,}" for text, part in item_filter.clauses())
    raise item_filter.source.error(f"keeps none of the {len(items):,} items ({counts}); loosen the filter.")
