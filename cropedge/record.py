"""Typed JSON records: the files that cross wings (run.json, bundle metadata, grid cells).

Each record is a frozen dataclass. ``to_dict`` is the only way it is written and
``from_dict`` the only way it is read: every field is checked against its annotation
(JSON type, finite numbers, nested records), so nothing read from disk is trusted
unchecked, and a damaged file is one ``CropEdgeError`` that says which field and what to
do. Each record carries a format version; a newer one than this cropedge reads is refused.

Field annotations understood: ``str``, ``int``, ``float`` (finite), ``bool``, ``Any`` (any
JSON value), ``X | None``, ``tuple[X, ...]``, ``dict[str, X]``, ``dict`` (any JSON object),
``Literal[...]``, nested ``Record`` subclasses and value types with ``from_dict`` /
``to_dict`` (``Window``, ``BandStats``).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, ClassVar, Self, TypeGuard

from cropedge.errors import CropEdgeError


class _Bad(Exception):
    """A field that does not fit its annotation; turned into one ``CropEdgeError`` by ``from_dict``."""


@dataclasses.dataclass(frozen=True)
class Record:
    """Base of the typed records; subclasses are frozen dataclasses.

    Class attributes a subclass sets:
        VERSION: the format version this cropedge writes and reads (older ones read too).
        VERSION_KEY: the JSON key holding it (None: a record nested in another, unversioned).
        WHAT: what the record is, for messages (``"run.json"``).
        FIX: what the user should do about a damaged one (``"train the run again"``).
    """

    VERSION: ClassVar[int] = 1
    VERSION_KEY: ClassVar[str | None] = "record_version"
    WHAT: ClassVar[str] = "record"
    FIX: ClassVar[str] = "make it again"
    # files written before the version key existed count as this version (None: the key is required)
    UNVERSIONED: ClassVar[int | None] = 1

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON values, its version first."""
        out: dict[str, Any] = {} if self.VERSION_KEY is None else {self.VERSION_KEY: self.VERSION}
        for f in dataclasses.fields(self):
            out[f.name] = _dump(getattr(self, f.name))
        return out

    @classmethod
    def from_dict(cls, data: Any, origin: str) -> Self:
        """Read and check a record.

        Args:
            data: The parsed JSON.
            origin: Where it came from (a path), for messages.

        Raises:
            CropEdgeError: not an object, a newer version, a missing or ill-typed field.
        """
        if not isinstance(data, dict):
            raise CropEdgeError(f"{origin}: {cls.WHAT} must be a JSON object, not {_kind(data)}; {cls.FIX}")
        if cls.VERSION_KEY is not None:
            version = data.get(cls.VERSION_KEY, cls.UNVERSIONED)
            if not _is_int(version):
                raise CropEdgeError(f"{origin}: {cls.WHAT} has no valid {cls.VERSION_KEY}; {cls.FIX}")
            if version > cls.VERSION:
                raise CropEdgeError(
                    f"{origin}: {cls.WHAT} version {version} is newer than this cropedge reads ({cls.VERSION}); "
                    "upgrade cropedge"
                )
        hints = typing.get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise CropEdgeError(f"{origin}: {cls.WHAT} lacks '{f.name}'; {cls.FIX}")
                continue
            try:
                kwargs[f.name] = _load(hints[f.name], data[f.name])
            except _Bad as exc:
                raise CropEdgeError(f"{origin}: {cls.WHAT} field '{f.name}' {exc}; {cls.FIX}") from None
        try:
            return cls(**kwargs)
        except CropEdgeError as exc:  # a record's own consistency check (__post_init__)
            raise CropEdgeError(f"{origin}: {exc}; {cls.FIX}") from None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _load(tp: Any, value: Any) -> Any:
    """``value`` checked (and converted: lists to tuples, nested records) against annotation ``tp``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        errors = []
        for a in inner:
            try:
                return _load(a, value)
            except _Bad as exc:
                errors.append(str(exc))
        raise _Bad(errors[0] if len(errors) == 1 else f"is {_show(value)}, which fits none of {tp}")
    if origin is typing.Literal:
        if value not in args:
            raise _Bad(f"is {_show(value)}, not one of {', '.join(map(repr, args))}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise _Bad(f"is {_show(value)}, not true or false")
        return value
    if tp is int:
        if not _is_int(value):
            raise _Bad(f"is {_show(value)}, not a whole number")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _Bad(f"is {_show(value)}, not a finite number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _Bad(f"is {_show(value)}, not a string")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _Bad(f"is {_show(value)}, not a list")
        item = args[0]
        return tuple(_load(item, v) for v in value)
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise _Bad(f"is {_show(value)}, not an object")
        if not args:
            return value
        return {_load(args[0], k): _load(args[1], v) for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, Record):
        try:
            return tp.from_dict(value, "")
        except CropEdgeError as exc:
            raise _Bad(str(exc).removeprefix(": ").split("; ")[0]) from None
    if hasattr(tp, "from_dict"):
        if not isinstance(value, dict):
            raise _Bad(f"is {_show(value)}, not an object")
        try:
            return tp.from_dict(value)
        except CropEdgeError as exc:
            raise _Bad(f"is unusable ({exc})") from None
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise _Bad(f"is unusable ({type(exc).__name__}: {exc})") from None
    raise TypeError(f"record fields of type {tp!r} are not supported")  # a programming error, not a user's


def _dump(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value
