"""Read-only JSON values: what an :class:`~kube9_store.events.event.Event`'s metadata (and an ORM
row's) is, so that a change made in place fails loudly instead of being lost, or of making the
object disagree with what is stored.

:class:`FrozenDict` and :class:`FrozenList` are ``dict`` and ``list`` subclasses, so equality
with plain values, ``json.dumps`` and ``isinstance`` checks keep working; every method that
would change them raises :class:`TypeError` saying how to make a changed copy.
"""

from __future__ import annotations

from typing import Any, NoReturn

_HINT = (
    "copy it first (kube9_store.events.frozen.thaw gives plain dicts and lists all the way down)"
)


class FrozenDict(dict[str, Any]):
    """A dict that cannot be changed."""

    __slots__ = ()

    def _refuse(self, *_args: object, **_kwargs: object) -> NoReturn:
        raise TypeError(f"stored metadata is read-only; {_HINT}")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, _memo: object) -> FrozenDict:
        return self


class FrozenList(list[Any]):
    """A list that cannot be changed."""

    __slots__ = ()

    def _refuse(self, *_args: object, **_kwargs: object) -> NoReturn:
        raise TypeError(f"stored metadata is read-only; {_HINT}")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenList, (list(self),))

    def __copy__(self) -> FrozenList:
        return self

    def __deepcopy__(self, _memo: object) -> FrozenList:
        return self


def freeze(value: Any) -> Any:
    """``value`` with every dict and list in it made read-only (a new structure; ``value`` is
    left as it is)."""
    if isinstance(value, dict):
        return FrozenDict(
            {k: freeze(v) if isinstance(v, _CONTAINERS) else v for k, v in value.items()}
        )
    if isinstance(value, list | tuple):
        return FrozenList([freeze(v) if isinstance(v, _CONTAINERS) else v for v in value])
    return value


_CONTAINERS = (dict, list, tuple)


def thaw(value: Any) -> Any:
    """A plain, changeable copy of a (frozen) JSON value."""
    if isinstance(value, dict):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value
