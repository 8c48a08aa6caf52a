"""The strict converter config files are structured with, and cattrs errors turned into readable lines.

:data:`converter` is a copy of :data:`orch.models.converter` (same Decimal/datetime/enum handling) with
``forbid_extra_keys`` and detailed validation, plus hooks that refuse what cattrs would otherwise coerce
silently: ``bool("false")`` is True, ``int(Decimal("1.5"))`` is 1, a string is a sequence of letters.
Values that came from the environment (``${VAR}``, see :class:`FromEnv`) are text by nature, so only they
may spell an integer or a boolean as a string.

:func:`problems_from` flattens a cattrs error tree into ``(dotted path, message)`` pairs, one per problem.
"""

from __future__ import annotations

import difflib
import enum
import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, list_structure_factory, mapping_structure_factory
from cattrs.errors import (AttributeValidationNote, ClassValidationError, ForbiddenExtraKeysError,
                           IterableValidationError, IterableValidationNote)
from cattrs.gen import make_dict_structure_fn

from orch.errors import ConfigError
from orch.models import converter as _models_converter
from orch.secret import Secret

Problem = tuple[str, str]


class FromEnv(str):
    """A string substituted from ``${VAR}``: remembers the variable so a Secret can say where it came from
    and error messages can name the variable instead of echoing its value."""

    var: str

    def __new__(cls, value: str, var: str) -> FromEnv:
        instance = super().__new__(cls, value)
        instance.var = var
        return instance


@attrs.frozen
class SecretRef:
    """What unstructuring a Secret yields: a marker the dumper replaces with ``${VAR}``, never the value."""

    secret: Secret


# ------------------------------------------------------------------------------------------ messages


def show(value: Any) -> str:
    """A short rendering of a bad value for an error line (as it would look in JSON)."""
    if isinstance(value, FromEnv):
        return f"the value of ${{{value.var}}}"
    if isinstance(value, Secret):
        return "a secret"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return json.dumps(text, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def did_you_mean(word: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def join(path: str, key: Any) -> str:
    """Dotted path as the user writes it: ``brokers.alpaca.markets[1]``; odd keys are quoted, TOML-style."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    key = str(key)
    # fullmatch: "$" alone also matches before a trailing newline, which would put "0\n" raw in a line.
    part = key if _SIMPLE_KEY.fullmatch(key) else json.dumps(key)
    return f"{path}.{part}" if path else part


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# ------------------------------------------------------------------------------------------ hooks


def _int(value: Any, _: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, FromEnv) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise ValueError(f"expected an integer, got {show(value)}")


_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def _bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, FromEnv):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError(f"expected true or false, got {show(value)}")


def _str(value: Any, _: type) -> str:
    if isinstance(value, str):
        return str(value)  # a plain str, without the FromEnv marker
    raise ValueError(f"expected a string, got {show(value)}")


def _decimal(value: Any, _: type) -> Decimal:
    from orch.models import to_decimal

    try:
        return to_decimal(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {show(value)}") from None


def _secret(value: Any, _: type) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, FromEnv):
        return Secret(str(value), source=f"env:{value.var}")
    if value is None or isinstance(value, str):
        return Secret(value, source="config")
    # Never echo the value: it may be the credential itself, typed into the wrong place.
    raise ValueError(f"expected a string, got a {type(value).__name__}")


def _enum_factory(cls: type[enum.Enum]):
    values = [m.value for m in cls]

    def structure(value: Any, _: type) -> enum.Enum:
        if isinstance(value, cls):
            return value
        for member in cls:
            if value == member.value and type(value) is not bool:
                return member
        listed = ", ".join(str(v) for v in values)
        hint = did_you_mean(str(value), [str(v) for v in values]) if isinstance(value, str) else ""
        raise ValueError(f"expected one of {listed}, got {show(value)}{hint}")

    return structure


def _unless_enum(hook):
    def structure(value: Any, t: Any) -> Any:
        if _is_enum(t):
            return _enum_factory(t)(value, t)
        return hook(value, t)

    return structure


def _is_enum(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, enum.Enum)


_SEQUENCE_ORIGINS = {list, tuple, frozenset, set, Sequence}
_MAPPING_ORIGINS = {dict, Mapping}


def _is_collection(t: Any) -> bool:
    origin = get_origin(t)
    if origin in _MAPPING_ORIGINS:
        return True
    if origin is tuple:
        args = get_args(t)
        return len(args) == 2 and args[1] is Ellipsis
    return origin in _SEQUENCE_ORIGINS


def _collection_factory(t: Any, conv: cattrs.Converter):
    origin = get_origin(t)
    if origin in _MAPPING_ORIGINS:
        inner = mapping_structure_factory(t, conv)

        def structure_mapping(value: Any, type_: Any) -> Any:
            if not isinstance(value, Mapping):
                raise ValueError(f"expected a table, got {show(value)}")
            return inner(value, type_)

        return structure_mapping
    (item,) = get_args(t)[:1] or (Any,)
    finish = None
    if origin is list:
        call_type = t
    elif origin in (frozenset, set):
        call_type, finish = list[item], (frozenset if origin is frozenset else set)
    else:
        call_type = tuple[item, ...]
    factory = homogenous_tuple_structure_factory if call_type == tuple[item, ...] else list_structure_factory
    inner = factory(call_type, conv)

    def structure_sequence(value: Any, _: Any) -> Any:
        # A string is iterable: without this check "CRYPTO" would become six one-letter markets.
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"expected a list, got {show(value)}")
        result = inner(value, call_type)
        return finish(result) if finish else result

    return structure_sequence


def _attrs_factory(cls: type, conv: cattrs.Converter):
    inner = make_dict_structure_fn(cls, conv)

    def structure_attrs(value: Any, type_: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a table, got {show(value)}")
        return inner(value, type_)

    return structure_attrs


def _make_converter() -> cattrs.Converter:
    conv = _models_converter.copy(forbid_extra_keys=True, detailed_validation=True)
    # Class-based hooks win over predicates in cattrs and also match subclasses, so the int and str hooks
    # hand str/int enums (Market) on to the enum hook.
    for cls, hook in ((int, _int), (bool, _bool), (str, _str), (Decimal, _decimal), (Secret, _secret)):
        conv.register_structure_hook(cls, _unless_enum(hook))
    conv.register_structure_hook_factory(_is_enum, _enum_factory)
    conv.register_structure_hook_factory(_is_collection, lambda t: _collection_factory(t, conv))
    conv.register_structure_hook_factory(
        lambda t: attrs.has(t) and not get_args(t), lambda t: _attrs_factory(t, conv))
    # TOML writes Decimal as an exact number literal (read back with parse_float=Decimal); JSON output
    # turns it into a string at the edge.
    conv.register_unstructure_hook(Decimal, lambda d: d)
    conv.register_unstructure_hook(Secret, SecretRef)
    return conv


converter = _make_converter()


# ------------------------------------------------------------------------------------------ errors


def _note(exc: BaseException, kind: type) -> Any:
    for note in getattr(exc, "__notes__", ()) or ():
        if isinstance(note, kind):
            return note
    return None


def _field_names(cls: type) -> list[str]:
    try:
        return [a.alias or a.name for a in attrs.fields(cls)]
    except Exception:  # noqa: BLE001 - only feeds a hint
        return []


def problems_from(exc: BaseException, path: str) -> list[Problem]:
    """Every leaf error of a cattrs error tree, as ``(dotted path, message)``."""
    out: list[Problem] = []
    if isinstance(exc, ForbiddenExtraKeysError):
        names = _field_names(exc.cl)
        for key in sorted(exc.extra_fields, key=str):  # keys of data built in code need not be text
            out.append((join(path, key), f"unknown key{did_you_mean(str(key), names)}"))
    elif isinstance(exc, ClassValidationError):
        for sub in exc.exceptions:
            note = _note(sub, AttributeValidationNote)
            out += problems_from(sub, join(path, note.name) if note is not None else path)
    elif isinstance(exc, IterableValidationError):
        for sub in exc.exceptions:
            note = _note(sub, IterableValidationNote)
            if note is None:
                out += problems_from(sub, path)
            elif str(note).startswith("Structuring mapping key"):
                out += [(p, f"invalid key: {m}") for p, m in problems_from(sub, join(path, note.index))]
            else:
                out += problems_from(sub, join(path, note.index))
    elif isinstance(exc, ConfigError) and exc.path:
        out.append(("", _one_line(str(exc))))  # a plugin validator's own error already names its path
    elif isinstance(exc, KeyError):
        out.append((path, "required key missing"))
    else:
        text = _one_line(exc.args[0] if isinstance(exc, (ValueError, TypeError)) and exc.args else exc)
        out.append((path, text or type(exc).__name__))
    return out


def format_problem(problem: Problem) -> str:
    path, message = problem
    return f"{path}: {message}" if path else message
