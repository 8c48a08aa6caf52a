"""Static request/response vectors: a cheap, strict regression net for a plugin's sans-IO protocol.

A vector file is JSON. It pins, for one call, the exact request the plugin's protocol code must build and
what a raw broker answer must parse into (an orch object, or an orch error)::

    {
      "format": "orch-vectors/1",
      "broker": "alpaca",
      "context": {"api_key": "PKVECTORKEY", "secret_key": "vector-secret"},
      "vectors": [
        {
          "name": "limit buy AAPL, client order id in the body",
          "call": "create_order",
          "args": {"request": {"$model": "OrderRequest", "instrument": {...}, "side": "buy", ...},
                   "symbol": "AAPL"},
          "request": {"method": "POST", "path": "/v2/orders", "query": {},
                      "headers": {"APCA-API-KEY-ID": "PKVECTORKEY"},
                      "body": {"symbol": "AAPL", "qty": "10", ...}},
          "response": {"status": 200, "headers": {}, "body": {... the broker's JSON ...}},
          "result": {"$type": "Order", "status": "new", "qty": "10", ...}
        },
        {"name": "...", "call": "quote", "args": {...},
         "response": {"status": 404, "body": {"code": 40410000, "message": "not found"}},
         "raises": {"type": "UnknownInstrument", "broker_code": 40410000, "status": 404}}
      ]
    }

Each vector has a ``name`` (its test id), a ``call`` (any name the plugin's adapters understand) and
``args``, plus at least one of:

* ``request``: what ``build(vector)`` must return, as a :class:`WireRequest`. ``method`` and ``path``
  are compared exactly; ``query`` (when given) must equal the request's parameters exactly;
  ``headers`` lists only the headers that matter (names case-insensitive; a ``null`` value means
  "must be absent"); ``body`` (when given, ``null`` meaning none) is compared exactly: a JSON body as
  data, numbers written as strings stay strings, so ``"10"`` and ``"10.0"`` differ as they do on the
  wire. ``endpoint`` (optional) names which of the broker's hosts the request is for.
* ``response`` with ``result`` or ``raises``: ``parse(vector, response)`` gets the raw answer as a
  :class:`WireResponse` (``body`` is JSON re-serialised with every number exactly as written in the
  file, or ``body_text`` verbatim) and must return an object matching ``result`` or raise an orch
  error matching ``raises``.

``result`` is a partial match: only the keys written are checked, nested objects and lists recursively
(a list must have the length written). ``"$type"`` names the class (``Order``, ``Quote``…); Decimals
compare by value (``"189.20"`` equals ``189.2``); datetimes compare as instants and must be
timezone-aware; enums compare by value; ``null`` means the field must be None. ``raises`` takes
``type`` (a class name from :mod:`orch.errors`, matched with isinstance, or the exact class name of a
plugin's own subclass), and optionally ``broker_code``, ``status``, ``message_contains``, ``capability``,
``retry_after``.

In ``args`` and ``context``, numbers with a decimal point become :class:`~decimal.Decimal`,
``{"$model": "OrderRequest", ...}`` becomes that :mod:`orch.models` class (structured with orch's
converter), ``{"$datetime": "2026-11-24T15:30:00Z"}`` an aware datetime and ``{"$decimal": "12"}`` a
Decimal written exactly so (a bare ``12`` is an int).

The plugin writes two small adapters from its protocol module: ``build(vector) -> WireRequest`` and
``parse(vector, response) -> object``. :func:`check_vectors` runs a file (or a directory of files, or a
list of vectors) and reports every mismatch in one AssertionError; :func:`parametrize_vectors` gives one
pytest test per vector. See docs/conformance.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs
from attrs import field, frozen

FORMAT = "orch-vectors/1"

__all__ = ["FORMAT", "Vector", "VectorError", "WireRequest", "WireResponse", "check_vector", "check_vectors",
           "load_vectors", "parametrize_vectors", "vector_params"]


class VectorError(ValueError):
    """A vector file is malformed (not a mismatch: the file itself cannot be used)."""


# ------------------------------------------------------------------------------------------ wire values


def _lower_keys(headers: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


def _str_values(query: Any) -> dict[str, Any]:
    items = query.items() if isinstance(query, Mapping) else (query or ())
    out: dict[str, Any] = {}
    for key, value in items:
        value = [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value)
        if key in out:  # a repeated parameter becomes a list, in order
            previous = out[key] if isinstance(out[key], list) else [out[key]]
            out[key] = previous + (value if isinstance(value, list) else [value])
        else:
            out[key] = value
    return out


@frozen
class WireRequest:
    """One request as it goes on the wire, in a broker-neutral shape. ``path`` holds no query string;
    ``query`` maps each parameter to a string (a list for a repeated one); ``headers`` are compared
    case-insensitively; ``body`` is the decoded JSON body, raw text/bytes, or None. ``endpoint`` says
    which of the broker's hosts is meant (``"trading"``, ``"data"``…) where it has several."""

    method: str = field(converter=str.upper)
    path: str
    query: Mapping[str, Any] = field(factory=dict, converter=_str_values)
    headers: Mapping[str, str] = field(factory=dict, converter=_lower_keys, repr=False)
    body: Any = None
    endpoint: str | None = None

    @classmethod
    def from_url(cls, method: str, url: str, **kwargs: Any) -> WireRequest:
        """For protocols that build a full URL (a signature in the query string): split it."""
        parts = urlsplit(url)
        return cls(method, parts.path or "/", query=parse_qsl(parts.query, keep_blank_values=True), **kwargs)


@frozen
class WireResponse:
    """A raw broker answer: ``headers`` keys are lower case; ``body`` is the bytes as sent."""

    status: int
    headers: Mapping[str, str] = field(factory=dict, converter=_lower_keys)
    body: bytes = b""

    def json(self) -> Any:
        """The body decoded with exact decimals, as plugins decode the wire."""
        return json.loads(self.body, parse_float=Decimal)


@frozen
class Vector:
    """One vector from a file. ``args`` and ``context`` are decoded (Decimals, ``$model`` objects);
    ``expect_request``, ``response``, ``result`` and ``raises`` are as written (``response`` already a
    :class:`WireResponse`). ``source`` is ``file:index`` for messages."""

    name: str
    call: str
    args: Mapping[str, Any]
    context: Mapping[str, Any]
    broker: str
    source: str
    expect_request: Mapping[str, Any] | None = None
    response: WireResponse | None = None
    result: Any = None
    raises: Mapping[str, Any] | None = None
    has_result: bool = False

    def __str__(self) -> str:
        return f"{self.source} {self.name!r}"


# ------------------------------------------------------------------------------------------ loading


class _Number(str):
    """A JSON number kept exactly as written in the file, so a response body is replayed byte-true."""


def _dump_exact(value: Any) -> str:
    """JSON text of ``value`` with every :class:`_Number` written verbatim (json.dumps cannot emit a
    number it did not parse as float)."""
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_dump_exact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_dump_exact(v) for v in value) + "]"
    return json.dumps(value)


def _plain(value: Any) -> Any:
    """File data with numbers as Decimal/int (for expectations)."""
    if isinstance(value, _Number):
        return Decimal(value) if any(c in value for c in ".eE") else int(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _decode_arg(value: Any, where: str) -> Any:
    from orch import models

    if isinstance(value, _Number):
        return _plain(value)
    if isinstance(value, list):
        return [_decode_arg(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, Mapping):
        return value
    if "$datetime" in value:
        return _aware(value["$datetime"], where)
    if "$decimal" in value:
        try:
            return Decimal(str(value["$decimal"]))
        except InvalidOperation:
            raise VectorError(f"{where}: {value['$decimal']!r} is not a decimal number") from None
    if "$model" in value:
        name = value["$model"]
        cls = getattr(models, str(name), None)
        if not (isinstance(cls, type) and attrs.has(cls)):
            raise VectorError(f"{where}: $model {name!r} is not a class of orch.models")
        data = {k: _plain(v) for k, v in value.items() if k != "$model"}
        try:
            return models.from_data(data, cls)
        except Exception as exc:  # cattrs raises exception groups; one line is what the author needs
            raise VectorError(f"{where}: cannot build {name}: {_one_line(exc)}") from None
    return {k: _decode_arg(v, f"{where}.{k}") for k, v in value.items()}


def _one_line(exc: BaseException) -> str:
    parts = [str(exc)]
    for sub in getattr(exc, "exceptions", ()) or ():
        parts.append(_one_line(sub))
    return " ".join(" ".join(parts).split())


def _aware(text: Any, where: str) -> datetime:
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise VectorError(f"{where}: {text!r} is not an ISO datetime") from None
    if value.tzinfo is None:
        raise VectorError(f"{where}: {text!r} has no timezone")
    return value


def _response(data: Any, where: str) -> WireResponse:
    if not isinstance(data, Mapping) or "status" not in data:
        raise VectorError(f"{where}: a response needs at least a status")
    if "body" in data and "body_text" in data:
        raise VectorError(f"{where}: give body or body_text, not both")
    if "body_text" in data:
        body = str(data["body_text"]).encode()
    elif "body" in data and data["body"] is not None:
        body = _dump_exact(data["body"]).encode()
    else:
        body = b""
    return WireResponse(int(_plain(data["status"])), _plain(data.get("headers") or {}), body)


_VECTOR_KEYS = frozenset({"name", "call", "args", "request", "response", "result", "raises", "note"})


def _vectors_from(data: Any, source: str) -> list[Vector]:
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise VectorError(f"{source}: not an orch vector file (expected \"format\": \"{FORMAT}\")")
    broker = str(data.get("broker") or "")
    context = _decode_arg(data.get("context") or {}, f"{source} context")
    items = data.get("vectors")
    if not isinstance(items, list):
        raise VectorError(f"{source}: \"vectors\" must be a list")
    out = []
    for index, item in enumerate(items):
        where = f"{source}:{index}"
        if not isinstance(item, Mapping):
            raise VectorError(f"{where}: a vector must be an object")
        unknown = set(item) - _VECTOR_KEYS
        if unknown:
            raise VectorError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        if not item.get("name") or not item.get("call"):
            raise VectorError(f"{where}: a vector needs a name and a call")
        if "request" not in item and "response" not in item:
            raise VectorError(f"{where} {item['name']!r}: give a request, a response, or both")
        if "response" in item and ("result" in item) == ("raises" in item):
            raise VectorError(f"{where} {item['name']!r}: a response needs exactly one of result and raises")
        request = item.get("request")
        if request is not None and not (isinstance(request, Mapping) and "method" in request
                                        and "path" in request):
            raise VectorError(f"{where} {item['name']!r}: request needs a method and a path")
        out.append(Vector(
            name=str(item["name"]), call=str(item["call"]),
            args=_decode_arg(item.get("args") or {}, f"{where} args"), context=context, broker=broker,
            source=where, expect_request=request,
            response=_response(item["response"], f"{where} response") if "response" in item else None,
            result=item.get("result"), raises=item.get("raises"), has_result="result" in item))
    names = [v.name for v in out]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise VectorError(f"{source}: duplicate vector names {', '.join(map(repr, duplicates))}")
    return out


def load_vectors(source: str | Path | Iterable[Any]) -> list[Vector]:
    """Vectors from a JSON file, every ``*.json`` file of a directory (sorted), an already-parsed file
    (a dict), or a list of :class:`Vector`. Raises :class:`VectorError` for a malformed file."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        if not files:
            raise VectorError(f"{path}: no *.json vector files")
        out: list[Vector] = []
        for file in files:
            try:
                data = json.loads(file.read_text(encoding="utf-8"), parse_float=_Number, parse_int=_Number)
            except (OSError, ValueError) as exc:
                raise VectorError(f"{file}: cannot read: {exc}") from None
            out += _vectors_from(data, file.name)
        return out
    if isinstance(source, Mapping):
        # Re-read through JSON so numbers keep their written form, as from a file.
        text = json.dumps(source, default=str)
        return _vectors_from(json.loads(text, parse_float=_Number, parse_int=_Number), "<data>")
    items = list(source)
    if not all(isinstance(v, Vector) for v in items):
        raise VectorError("expected a path, a parsed vector file, or a list of Vector")
    return items


# ------------------------------------------------------------------------------------------ matching


def _match(actual: Any, expected: Any, where: str, problems: list[str]) -> None:
    expected = _plain(expected)
    if expected is None:
        if actual is not None:
            problems.append(f"{where}: expected null, got {actual!r}")
        return
    if actual is None:
        problems.append(f"{where}: expected {expected!r}, got None")
        return
    if isinstance(expected, Mapping) and (attrs.has(type(actual)) or isinstance(actual, Mapping)):
        wanted_type = expected.get("$type")
        if wanted_type is not None and type(actual).__name__ != wanted_type:
            problems.append(f"{where}: expected a {wanted_type}, got {type(actual).__name__}")
            return
        for key, value in expected.items():
            if key == "$type":
                continue
            if isinstance(actual, Mapping):
                if key not in actual:
                    problems.append(f"{where}.{key}: missing")
                    continue
                child = actual[key]
            elif hasattr(actual, key):
                child = getattr(actual, key)
            else:
                problems.append(f"{where}.{key}: {type(actual).__name__} has no field {key!r}")
                continue
            _match(child, value, f"{where}.{key}", problems)
        return
    if isinstance(expected, list):
        if not isinstance(actual, (list, tuple)):
            problems.append(f"{where}: expected a list, got {type(actual).__name__}")
            return
        if len(actual) != len(expected):
            problems.append(f"{where}: expected {len(expected)} item(s), got {len(actual)}")
            return
        for index, (a, e) in enumerate(zip(actual, expected)):
            _match(a, e, f"{where}[{index}]", problems)
        return
    if isinstance(actual, bool) or isinstance(expected, bool):
        if actual is not expected:
            problems.append(f"{where}: expected {expected!r}, got {actual!r}")
        return
    if isinstance(actual, Decimal):
        try:
            same = Decimal(str(expected)) == actual
        except InvalidOperation:
            same = False
        if not same:
            problems.append(f"{where}: expected {expected}, got {actual}")
        return
    if isinstance(actual, datetime):
        if actual.tzinfo is None or actual.utcoffset() is None:
            problems.append(f"{where}: {actual!r} is not timezone-aware")
            return
        try:
            wanted = _aware(expected, where)
        except VectorError as exc:
            problems.append(str(exc))
            return
        if wanted != actual:
            problems.append(f"{where}: expected {wanted.isoformat()}, got {actual.isoformat()}")
        return
    if isinstance(actual, Enum):
        if actual.value != expected and actual.name != expected:
            problems.append(f"{where}: expected {expected!r}, got {actual.value!r}")
        return
    if actual != expected:
        problems.append(f"{where}: expected {expected!r}, got {actual!r}")


def _check_request(actual: Any, expected: Mapping[str, Any], problems: list[str]) -> None:
    if not isinstance(actual, WireRequest):
        problems.append(f"request: build() returned {type(actual).__name__}, expected a WireRequest")
        return
    if actual.method != str(expected["method"]).upper():
        problems.append(f"request.method: expected {expected['method']}, got {actual.method}")
    if actual.path != expected["path"]:
        problems.append(f"request.path: expected {expected['path']}, got {actual.path}")
    if "endpoint" in expected and actual.endpoint != expected["endpoint"]:
        problems.append(f"request.endpoint: expected {expected['endpoint']!r}, got {actual.endpoint!r}")
    if "query" in expected:
        wanted = _str_values(_plain(expected["query"] or {}))
        if dict(actual.query) != wanted:
            missing = sorted(set(wanted) - set(actual.query))
            extra = sorted(set(actual.query) - set(wanted))
            changed = sorted(k for k in set(wanted) & set(actual.query) if wanted[k] != actual.query[k])
            detail = "; ".join(filter(None, [
                f"missing {', '.join(missing)}" if missing else "",
                f"unexpected {', '.join(extra)}" if extra else "",
                *(f"{k}={actual.query[k]!r} (expected {wanted[k]!r})" for k in changed)]))
            problems.append(f"request.query: {detail}")
    for name, value in (expected.get("headers") or {}).items():
        got = actual.headers.get(name.lower())
        if value is None:
            if got is not None:
                problems.append(f"request.headers[{name}]: must be absent")
        elif got != str(_plain(value)):
            # The value may be a credential: say that it differs, never what it is.
            problems.append(f"request.headers[{name}]: " + ("missing" if got is None else "wrong value"))
    if "body" in expected:
        wanted = expected["body"]
        body = actual.body
        if isinstance(body, (bytes, str)) and not isinstance(wanted, str):
            try:
                body = json.loads(body, parse_float=_Number, parse_int=_Number)
            except ValueError:
                problems.append("request.body: not JSON")
                return
        if _canonical(body) != _canonical(wanted):
            problems.append(f"request.body: expected {_dump_exact(wanted)}, got {_dump_exact(_canonical(body))}")


def _canonical(value: Any) -> Any:
    """Body data for exact comparison: numbers keep their written text, Decimals their str()."""
    if isinstance(value, _Number):
        return ("number", str(value))
    if isinstance(value, Decimal):
        return ("number", str(value))
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return ("number", repr(value))
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def _check_raised(exc: BaseException, wanted: Mapping[str, Any], problems: list[str]) -> None:
    from orch import errors

    name = str(wanted.get("type", ""))
    cls = getattr(errors, name, None)
    ok = isinstance(exc, cls) if isinstance(cls, type) else any(
        c.__name__ == name for c in type(exc).__mro__)
    if not ok:
        problems.append(f"raised {type(exc).__name__}: {exc}, expected {name}")
        return
    for key in ("broker_code", "status", "capability", "retry_after"):
        if key in wanted:
            got = getattr(exc, key, None)
            want = _plain(wanted[key])
            equal = (got == want) or (got is not None and str(got) == str(want))
            if isinstance(got, float) and isinstance(want, (int, Decimal)):
                equal = Decimal(str(got)) == Decimal(want)
            if not equal:
                problems.append(f"raises.{key}: expected {want!r}, got {got!r}")
    if "message_contains" in wanted and str(wanted["message_contains"]) not in str(exc):
        problems.append(f"raises.message_contains: {wanted['message_contains']!r} not in {str(exc)!r}")


Build = Callable[[Vector], WireRequest]
Parse = Callable[[Vector, WireResponse], Any]


def vector_problems(vector: Vector, build: Build | None, parse: Parse | None) -> list[str]:
    """Every mismatch of one vector (empty when it passes)."""
    from orch.errors import OrchError

    problems: list[str] = []
    if vector.expect_request is not None:
        if build is None:
            problems.append("has a request but no build adapter was given")
        else:
            try:
                actual = build(vector)
            except Exception as exc:  # noqa: BLE001 - reported as a mismatch
                problems.append(f"build raised {type(exc).__name__}: {exc}")
            else:
                _check_request(actual, vector.expect_request, problems)
    if vector.response is not None:
        if parse is None:
            problems.append("has a response but no parse adapter was given")
            return problems
        try:
            result = parse(vector, vector.response)
        except OrchError as exc:
            if vector.raises is None:
                problems.append(f"parse raised {type(exc).__name__}: {exc}")
            else:
                _check_raised(exc, vector.raises, problems)
        except Exception as exc:  # noqa: BLE001 - a parser must turn surprises into orch errors
            problems.append(f"parse raised {type(exc).__name__} (not an orch error): {exc}")
        else:
            if vector.raises is not None:
                problems.append(f"expected {vector.raises.get('type')} to be raised, got {result!r}")
            else:
                _match(result, vector.result, "result", problems)
    return problems


def check_vector(vector: Vector, build: Build | None = None, parse: Parse | None = None) -> None:
    """Raise AssertionError listing every mismatch of ``vector``."""
    problems = vector_problems(vector, build, parse)
    if problems:
        raise AssertionError(f"vector {vector}:\n  " + "\n  ".join(problems))


def check_vectors(source: str | Path | Iterable[Any], build: Build | None = None,
                  parse: Parse | None = None) -> int:
    """Run every vector of ``source`` (see :func:`load_vectors`); raise one AssertionError naming each
    failing vector and what differs. Returns how many vectors passed."""
    vectors = load_vectors(source)
    failures = []
    for vector in vectors:
        problems = vector_problems(vector, build, parse)
        if problems:
            failures.append(f"{vector}:\n    " + "\n    ".join(problems))
    if failures:
        raise AssertionError(f"{len(failures)} of {len(vectors)} vector(s) failed:\n  " + "\n  ".join(failures))
    return len(vectors)


def vector_params(source: str | Path | Iterable[Any]) -> list[Any]:
    """One ``pytest.param`` per vector, its id the vector's name."""
    import pytest

    return [pytest.param(v, id=f"{v.call}: {v.name}") for v in load_vectors(source)]


def parametrize_vectors(source: str | Path | Iterable[Any], argname: str = "vector") -> Any:
    """``@parametrize_vectors(HERE / "vectors")`` on ``def test_vector(vector): check_vector(vector, build,
    parse)`` gives one test per vector."""
    import pytest

    return pytest.mark.parametrize(argname, vector_params(source))


def names(vectors: Sequence[Vector]) -> list[str]:
    return [v.name for v in vectors]
