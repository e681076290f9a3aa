"""Structured filters: the `Filter` message of the API built with Python
operators, for programs that compose filters rather than write them.

    from qvdb import field
    f = (field("lang") == "en") & (field("year") >= 2020) & field("tags").is_in(["faq"])
    f = ~field("deleted").exists() | field("source").not_in(["wiki", "web"])
    docs.search(query, filter=f)
    docs.count(filter=f)

It means what the text form means (docs/filter.md): `f` above is
`lang = "en" and year >= 2020 and tags in ("faq")`. Literals are typed by
their Python type: str, bool, int, float, and datetime.datetime (a
timestamp, in microseconds since the Unix epoch; a naive datetime is UTC).
The server checks fields and types and answers InvalidArgument naming the
node, e.g. `structured_filter.all_of.filters[1].comparison`.

`&`, `|` and `~` bind like Python's bitwise operators (tighter than `==`),
so parenthesise comparisons: `(field("a") == 1) & (field("b") == 2)`.
"""

from __future__ import annotations

import datetime
import math
import numbers
from typing import Any, Iterable, List

from qvdb import errors
from qvdb.v1 import qvdb_pb2 as pb

__all__ = ["Filter", "Field", "field", "all_of", "any_of", "not_"]

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def _value(value: Any, where: str) -> pb.FilterValue:
    """A FilterValue typed by the Python value."""
    if isinstance(value, bool):
        return pb.FilterValue(bool_value=value)
    if isinstance(value, str):
        return pb.FilterValue(string_value=value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        delta = value - _EPOCH
        micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
        return pb.FilterValue(timestamp_micros=micros)
    if isinstance(value, numbers.Integral):
        return pb.FilterValue(int64_value=int(value))
    if isinstance(value, numbers.Real):
        if not math.isfinite(float(value)):
            raise errors.InvalidArgument(f"{where}: {value!r} is not finite")
        return pb.FilterValue(double_value=float(value))
    raise errors.InvalidArgument(
        f"{where}: {value!r} is a {type(value).__name__}; filter values are str, "
        "bool, int, float or datetime"
    )


class Filter:
    """One node of a structured filter; combine with `&` (and), `|` (or)
    and `~` (not). Build leaves with `field(name)`."""

    __slots__ = ("_message",)

    def __init__(self, message: pb.Filter) -> None:
        self._message = message

    def to_proto(self) -> pb.Filter:
        """The `qvdb.v1.Filter` message (a copy)."""
        out = pb.Filter()
        out.CopyFrom(self._message)
        return out

    def __and__(self, other: "Filter") -> "Filter":
        return all_of(self, other)

    def __or__(self, other: "Filter") -> "Filter":
        return any_of(self, other)

    def __invert__(self) -> "Filter":
        return not_(self)

    def __bool__(self) -> bool:
        # `a == 1 and b == 2` would silently keep only one side.
        raise TypeError("use & | ~ to combine qvdb filters, not and/or/not")

    def __repr__(self) -> str:
        return f"qvdb.Filter({self._message})".replace("\n", " ").strip()


def _list(kind: str, filters: Iterable[Filter]) -> Filter:
    out = pb.Filter()
    target = getattr(out, kind)
    target.SetInParent()
    for f in filters:
        if not isinstance(f, Filter):
            raise errors.InvalidArgument(
                f"{kind} takes qvdb filters (from qvdb.field), got {type(f).__name__}"
            )
        # Flattens a & b & c into one list.
        if f._message.WhichOneof("kind") == kind:
            target.filters.extend(getattr(f._message, kind).filters)
        else:
            target.filters.add().CopyFrom(f._message)
    return Filter(out)


def all_of(*filters: Filter) -> Filter:
    """Every filter passes (and)."""
    return _list("all_of", filters)


def any_of(*filters: Filter) -> Filter:
    """At least one filter passes (or)."""
    return _list("any_of", filters)


def not_(f: Filter) -> Filter:
    """The filter does not pass (not)."""
    if not isinstance(f, Filter):
        raise errors.InvalidArgument(f"not_ takes a qvdb filter, got {type(f).__name__}")
    out = pb.Filter()
    out.negate.CopyFrom(f._message)
    return Filter(out)


class Field:
    """A declared payload field, the left side of a comparison."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise errors.InvalidArgument(f"field name must be a non-empty str, got {name!r}")
        self.name = name

    def _compare(self, op: int, value: Any) -> Filter:
        out = pb.Filter()
        out.comparison.field = self.name
        out.comparison.op = op
        out.comparison.value.CopyFrom(_value(value, self.name))
        return Filter(out)

    def __eq__(self, value: Any) -> Filter:  # type: ignore[override]
        return self._compare(pb.FILTER_OP_EQ, value)

    def __ne__(self, value: Any) -> Filter:  # type: ignore[override]
        return self._compare(pb.FILTER_OP_NE, value)

    def __lt__(self, value: Any) -> Filter:
        return self._compare(pb.FILTER_OP_LT, value)

    def __le__(self, value: Any) -> Filter:
        return self._compare(pb.FILTER_OP_LE, value)

    def __gt__(self, value: Any) -> Filter:
        return self._compare(pb.FILTER_OP_GT, value)

    def __ge__(self, value: Any) -> Filter:
        return self._compare(pb.FILTER_OP_GE, value)

    __hash__ = None  # type: ignore[assignment]  # == builds a filter

    def is_in(self, values: Iterable[Any]) -> Filter:
        """The field holds one of `values` (1 to 1024 of them)."""
        return self._in(values, negated=False)

    def not_in(self, values: Iterable[Any]) -> Filter:
        """The field holds none of `values`."""
        return self._in(values, negated=True)

    def exists(self) -> Filter:
        """The row has a value for the field."""
        out = pb.Filter()
        out.exists.field = self.name
        return Filter(out)

    def _in(self, values: Iterable[Any], negated: bool) -> Filter:
        if isinstance(values, (str, bytes)):
            raise errors.InvalidArgument(
                f"{self.name}: is_in/not_in take a list of values, not one {type(values).__name__}"
            )
        out = pb.Filter()
        out.in_list.field = self.name
        out.in_list.negated = negated
        items: List[pb.FilterValue] = [_value(v, f"{self.name}[{i}]") for i, v in enumerate(values)]
        out.in_list.values.extend(items)
        return Filter(out)

    def __repr__(self) -> str:
        return f"qvdb.field({self.name!r})"


def field(name: str) -> Field:
    """A declared payload field to compare: `field("year") >= 2020`."""
    return Field(name)
