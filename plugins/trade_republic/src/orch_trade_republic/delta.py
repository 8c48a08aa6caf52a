"""Trade Republic's ``D`` (delta) frames, decoded exactly.

A delta rebuilds the new JSON text of a subscription from the previous one. Its payload is a list of
TAB-separated instructions applied with a cursor into the previous text:

* ``=N`` copy the next N characters of the previous text;
* ``-N`` skip the next N characters of the previous text;
* ``+text`` insert ``text``, form-URL-encoded (``+`` is a space, ``%xx`` a byte of UTF-8).

The result becomes the previous text of the next delta. Pure functions, no I/O.
"""

from __future__ import annotations

from urllib.parse import quote_plus, unquote_plus


class DeltaError(ValueError):
    """A delta that does not fit the text it is applied to."""


def apply_delta(previous: str, delta: str) -> str:
    """The new text. Raises :class:`DeltaError` for an unknown instruction, a count that is not a
    non-negative integer, or a copy/skip past the end of ``previous``."""
    cursor = 0
    out: list[str] = []
    for token in delta.split("\t"):
        if not token:
            continue  # a trailing TAB
        op, arg = token[0], token[1:]
        if op == "+":
            out.append(unquote_plus(arg))
            continue
        if op not in "=-":
            raise DeltaError(f"unknown delta instruction {token[:12]!r}")
        if not arg.isdigit():
            raise DeltaError(f"delta count is not a number: {token[:12]!r}")
        count = int(arg)
        if cursor + count > len(previous):
            raise DeltaError(f"delta {token!r} runs past the end of the previous answer "
                             f"({len(previous)} characters, at {cursor})")
        if op == "=":
            out.append(previous[cursor:cursor + count])
        cursor += count
    return "".join(out)


def make_delta(previous: str, new: str) -> str:
    """A delta turning ``previous`` into ``new`` (common prefix and suffix kept, the middle replaced).
    Used by the simulator; any valid delta decodes the same way."""
    prefix = 0
    limit = min(len(previous), len(new))
    while prefix < limit and previous[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    while (suffix < limit - prefix and previous[len(previous) - 1 - suffix] == new[len(new) - 1 - suffix]):
        suffix += 1
    tokens = []
    if prefix:
        tokens.append(f"={prefix}")
    removed = len(previous) - prefix - suffix
    if removed:
        tokens.append(f"-{removed}")
    inserted = new[prefix:len(new) - suffix]
    if inserted:
        tokens.append("+" + quote_plus(inserted, safe=""))
    if suffix:
        tokens.append(f"={suffix}")
    return "\t".join(tokens)
