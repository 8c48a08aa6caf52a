"""Hypothesis strategies for fuzzing a plugin's sans-IO parsers and stream decoders.

The promise checked: whatever a broker sends, a parser returns a result or raises an
:class:`~orch.errors.OrchError` with one readable line, never a ``KeyError``/``TypeError``/… traceback.

* :func:`mutated`: a recorded payload (a vector's response body) with a few fields removed, nulled,
  retyped, made huge/negative/non-finite, or swapped for another value of the payload (a wrong enum).
* :func:`garbled`: bytes of a recorded payload truncated, with bytes flipped, invalid UTF-8 inserted,
  or wholly random.
* :func:`json_values`: any value ``json.loads(..., parse_float=Decimal)`` can return.
* :func:`only_orch_errors`: call and let only orch errors through (checking their message is one line).
* :func:`fuzz_settings`: the team's hypothesis settings: no deadline, derandomized when ``CI`` is set,
  ``ORCH_FUZZ_SCALE`` times more examples for a long local run.

Needs hypothesis (a test dependency): the core never imports this module.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from orch.errors import OrchError

Path = tuple[Any, ...]


def fuzz_settings(max_examples: int) -> settings:
    """``ORCH_FUZZ_SCALE=20`` multiplies every budget for a long local hunt."""
    scale = int(os.environ.get("ORCH_FUZZ_SCALE") or 1)
    return settings(max_examples=max_examples * scale, deadline=None, derandomize=bool(os.environ.get("CI")),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# ------------------------------------------------------------------------------------------ values

_NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**63, -(2**63) - 1, 10**30, 2**64 + 1]),
    st.decimals(min_value=-(10**30), max_value=10**30, allow_nan=False, allow_infinity=False, places=None),
    # The extremes orch.parsing.json_decimal lets through (it refuses larger exponents at the decoder).
    st.sampled_from([Decimal("1E+400"), Decimal("-1E+400"), Decimal("1E-400"), Decimal("-0"),
                     Decimal("0.000000000000000000001"), Decimal("99999999999999999999999999.99")]),
    # What json.loads gives for NaN/Infinity literals (parse_float does not see them).
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
)

_TEXTS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "null", "NaN", "Infinity", "-Infinity", "1e999999", "-1", "0", "abc",
                     "1.2.3", "2026-13-45T99:99:99Z", "2026-11-24T15:30:00", "2026-11-24T15:30:00Z",
                     "\u0000", "\ud800x", "\u202e\u00e9\u4e2d", "9" * 5000, "UNKNOWN_ENUM", "BUY", "sell",
                     "-0.0", "1e-999999"]),
)

_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, _TEXTS)


def json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """Any JSON value as orch's decoders produce it (Decimal for fractions, NaN/Infinity as float)."""
    return st.recursive(_SCALARS, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
        max_leaves=max_leaves)


# ------------------------------------------------------------------------------------------ mutation


def _paths(value: Any, path: Path = ()) -> Iterator[Path]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def _leaves(value: Any) -> list[Any]:
    out = []
    for path in _paths(value):
        item = _get(value, path)
        if not isinstance(item, (dict, list)):
            out.append(item)
    return out


def _get(value: Any, path: Path) -> Any:
    for part in path:
        value = value[part]
    return value


def _set(root: Any, path: Path, new: Any) -> Any:
    if not path:
        return new
    parent = _get(root, path[:-1])
    parent[path[-1]] = new
    return root


def _delete(root: Any, path: Path) -> Any:
    if not path:
        return None
    del _get(root, path[:-1])[path[-1]]
    return root


def _retyped(value: Any) -> list[Any]:
    """The same value in the other shapes a sloppy server might send it in."""
    out: list[Any] = [str(value), [value], {"value": value}]
    if isinstance(value, str):
        try:
            out.append(Decimal(value))
        except ArithmeticError:
            out.append(len(value))
        out.append(value.upper() + "X")
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        try:
            out += [-value, value * 10**40 if value else 10**40, str(-value), float(value)]
        except ArithmeticError:  # already huge: the other shapes will do
            pass
    if isinstance(value, bool):
        out.append(int(value))
    return out


@st.composite
def mutated(draw: st.DrawFn, seed: Any, max_mutations: int = 3) -> Any:
    """``seed`` with 1..``max_mutations`` random damages at random places (the root included)."""
    value = copy.deepcopy(seed)
    pool = _leaves(seed) or [None]
    for _ in range(draw(st.integers(1, max_mutations))):
        path = draw(st.sampled_from(list(_paths(value))))
        current = _get(value, path)
        op = draw(st.sampled_from(("delete", "null", "junk", "retype", "swap", "structure")))
        if op == "delete":
            value = _delete(value, path)
        elif op == "null":
            value = _set(value, path, None)
        elif op == "junk":
            value = _set(value, path, draw(_SCALARS))
        elif op == "retype":
            value = _set(value, path, draw(st.sampled_from(_retyped(current))))
        elif op == "swap":
            value = _set(value, path, copy.deepcopy(draw(st.sampled_from(pool))))
        else:
            value = _set(value, path, draw(json_values()))
    return value


def garbled(raw: bytes) -> st.SearchStrategy[bytes]:
    """Damaged bytes of a payload: truncated, a byte replaced, invalid UTF-8 spliced in, or random."""
    size = max(len(raw), 1)

    @st.composite
    def damaged(draw: st.DrawFn) -> bytes:
        cut = draw(st.integers(0, size))
        op = draw(st.sampled_from(("truncate", "flip", "splice")))
        if op == "truncate":
            return raw[:cut]
        if op == "flip" and raw:
            at = min(cut, len(raw) - 1)
            return raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1:]
        junk = draw(st.sampled_from([b"\xff\xfe", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\x00", b"]}", b"{\""]))
        return raw[:cut] + junk + raw[cut:]

    return st.one_of(damaged(), st.binary(max_size=64))


# ------------------------------------------------------------------------------------------ checking


def only_orch_errors(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)``; an OrchError is fine when its message is one non-empty line, anything
    else propagates (and fails the hypothesis test with the input that caused it)."""
    try:
        return call(*args, **kwargs)
    except OrchError as exc:
        text = str(exc)
        assert text.strip(), f"{type(exc).__name__} without a message"
        assert "\n" not in text, f"{type(exc).__name__} message spans lines: {text!r}"
        return exc


def fuzz_parser(parser: Callable[[Any], Any], seeds: list[Any], max_examples: int = 40) -> None:
    """Feed ``parser`` recorded payloads damaged by :func:`mutated`, and arbitrary JSON values: it may
    only raise orch errors with one-line messages."""
    from hypothesis import given

    assert seeds, f"no recorded payload to mutate for {getattr(parser, '__name__', parser)}"

    @fuzz_settings(max_examples)
    @given(st.one_of(*(mutated(seed) for seed in seeds), json_values()))
    def run(data: Any) -> None:
        only_orch_errors(parser, data)

    run()
