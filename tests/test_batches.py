"""A batch is validated and scrubbed in one pass, and that pass is a model per event in all but
cost: the same events, the same redactions, the same problems named by index, for ordinary,
secret-holding and hostile input alike."""

from __future__ import annotations

import copy
import os
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kube9_store import Event, NewEvent, ValidationError
from kube9_store.events.ids import ALPHABET, SUFFIX_LENGTH, random_suffix, random_suffixes
from kube9_store.events.models import CheckedEvent, check_batch, check_event
from kube9_store.events.rows import stored_values
from kube9_store.schema.tables import EVENT_COLUMNS
from kube9_store.secrets.redaction import scrub_event, scrub_events
from tests.helpers import event_data
from tests.secret_corpus import ORDINARY_STRUCTURES, ORDINARY_TEXTS, STRUCTURES, TEXT_SHAPES

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

texts = st.sampled_from([s.text for s in TEXT_SHAPES] + ORDINARY_TEXTS) | st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)
structures = st.sampled_from([s.metadata for s in STRUCTURES] + ORDINARY_STRUCTURES)
hostile = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.text(max_size=5),
    st.just("\ud800"),
    st.just("a\x00b"),
    st.just("t" * 1001),
    st.just({"k": "v" * 11000}),
    st.just({1: "x"}),
    st.lists(st.integers(), max_size=2),
)
fields = st.sampled_from(
    [
        *("id", "event_type", "severity", "title", "description", "object_kind", "metadata"),
        *("created_at", "object_name", "unknown"),
    ]
)


@st.composite
def items(draw: st.DrawFn) -> Any:
    """An event as a caller may hand it: ordinary, holding secrets, or broken somewhere."""
    base = event_data(
        title=draw(texts)[:200],
        description=draw(texts),
        metadata=copy.deepcopy(draw(structures)),
    )
    kind = draw(st.sampled_from(["ok", "ok", "broken", "not a mapping", "instance"]))
    if kind == "broken":
        base[draw(fields)] = draw(hostile)
    elif kind == "not a mapping":
        return draw(st.sampled_from([None, 3, "text", ["a"]]))
    elif kind == "instance":
        return NewEvent(**base)
    return base


def as_stored(checked: CheckedEvent) -> tuple[dict[str, Any], str | None, tuple[Any, ...]]:
    """A checked event with every field present (a mapping's checked fields hold only those
    given)."""
    fields, metadata_json, redactions = checked
    return {name: fields.get(name) for name in NewEvent.model_fields}, metadata_json, redactions


def one_by_one(batch: list[Any]) -> list[Any]:
    """What a model per event makes of the batch: its fields, stored metadata and redactions,
    or its problems by index."""
    news, problems = [], []
    for i, item in enumerate(batch):
        try:
            new = NewEvent.parse(item)
        except ValidationError as exc:
            problems.extend((f"[{i}].{p.field}", p.rule) for p in exc.problems)
        else:
            news.append((dict(new.__dict__), new.metadata_json, new.redactions))
    return problems or news


@SETTINGS
@given(st.lists(items(), min_size=1, max_size=8))
def test_a_batch_in_one_pass_is_a_model_per_event(batch: list[Any]) -> None:
    expected = one_by_one([x if isinstance(x, NewEvent) else copy.deepcopy(x) for x in batch])
    try:
        got: Any = [as_stored(c) for c in check_batch(batch)]
    except ValidationError as exc:
        got = [(p.field, p.rule) for p in exc.problems]
    assert got == expected


@SETTINGS
@given(items())
def test_one_mapping_checked_alone_is_the_model(item: Any) -> None:
    expected = one_by_one([item if isinstance(item, NewEvent) else copy.deepcopy(item)])
    try:
        got: Any = [as_stored(check_event(item))]
    except ValidationError as exc:
        got = [(f"[0].{p.field}", p.rule) for p in exc.problems]
    assert got == expected


def test_the_caller_s_mappings_are_left_as_they_were() -> None:
    secret = next(s for s in STRUCTURES if s.name == "container env")
    batch = [event_data(metadata=copy.deepcopy(secret.metadata)) for _ in range(3)]
    before = copy.deepcopy(batch)
    checked = check_batch(batch)
    assert batch == before
    assert all(secret.secret not in (metadata_json or "") for _f, metadata_json, _r in checked)


def test_problems_of_every_item_are_reported_at_once() -> None:
    batch: list[Any] = [
        event_data(),
        event_data(severity="loud", title="t" * 201),
        7,
        event_data(metadata={"k": "v" * 11_000}),
        {**event_data(), 3: "x"},
    ]
    with pytest.raises(ValidationError) as info:
        check_batch(batch)
    assert info.value.fields == [
        "[1].severity",
        "[1].title",
        "[2].NewEvent",
        "[3].metadata",
        "[4].NewEvent",
    ]


@SETTINGS
@given(st.lists(st.tuples(texts, structures), min_size=1, max_size=300))
def test_scrubbing_a_batch_at_once_is_scrubbing_each(events: list[tuple[str, Any]]) -> None:
    """One prefilter pass over many events' strings never hides what each event's own pass
    finds (batches longer than one pass included)."""
    one = [({"title": t, "description": None}, copy.deepcopy(m)) for t, m in events]
    many = copy.deepcopy(one)
    expected = [scrub_event(t, m) for t, m in one]
    assert scrub_events(many) == expected
    assert [m for _t, m in many] == [m for _t, m in one]


def test_random_suffixes_are_uniform_over_the_alphabet() -> None:
    drawn = random_suffixes(60_000)
    assert len(drawn) == 60_000 and len(set(drawn)) > 59_900
    assert all(len(s) == SUFFIX_LENGTH and set(s) <= set(ALPHABET) for s in drawn)
    per_character = Counter("".join(drawn))
    expected = 60_000 * SUFFIX_LENGTH / len(ALPHABET)
    assert set(per_character) == set(ALPHABET)
    assert all(abs(n - expected) < 0.1 * expected for n in per_character.values())


def test_a_forked_child_never_draws_its_parent_s_ids() -> None:
    """Randomness is read ahead per thread; a child of fork must not reuse what its parent
    read, or both would hand out the same ids."""
    random_suffix()  # the parent has bytes buffered now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.write(write, "".join(random_suffix() for _ in range(20)).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    parent = "".join(random_suffix() for _ in range(20))
    assert len(child) == len(parent) == 120
    assert child != parent


def test_a_checked_event_s_row_is_in_table_column_order() -> None:
    """The write path binds and keeps rows by position: each value sits at its column's
    index in the table (a reordered table would fail here, not store fields crosswise)."""
    fields, metadata_json, _found = check_event(event_data(description="d", object_kind="Pod"))
    row = stored_values(
        fields, "evt_20251202_103045_a7f3b9", metadata_json, "2025-12-02T10:30:45.000Z", 1
    )
    expected = {
        **{name: fields.get(name) for name in EVENT_COLUMNS},
        "id": "evt_20251202_103045_a7f3b9",
        "metadata": metadata_json,
        "created_at": "2025-12-02T10:30:45.000Z",
        "acknowledged": 1,
    }
    assert dict(zip(EVENT_COLUMNS, row, strict=True)) == expected
    assert Event.from_row(row).to_dict()["object_kind"] == "Pod"


def test_an_integer_too_long_to_write_is_named_on_every_path() -> None:
    """An integer past the interpreter's limit on the digits it writes is refused as a rule of
    ``metadata`` by the model, a mapping checked alone and a batch alike."""
    data = event_data(metadata={"n": 10**5000})
    rule = f"integers must have at most {sys.get_int_max_str_digits()} digits"
    for check, field in (
        (lambda: NewEvent(**data), "metadata"),
        (lambda: check_event(data), "metadata"),
        (lambda: check_batch([data]), "[0].metadata"),
    ):
        with pytest.raises(ValidationError) as info:
            check()
        assert [(p.field, p.rule) for p in info.value.problems] == [(field, rule)]


class _ClaimsInt:
    """Not an int, though its ``__class__`` (and so ``isinstance``) says so."""

    @property
    def __class__(self) -> type:  # type: ignore[override]
        return int


class _ClaimsStr:
    @property
    def __class__(self) -> type:  # type: ignore[override]
        return str


class _AsciiLiar(str):
    """A str whose own ``isascii`` says yes to anything."""

    def isascii(self) -> bool:
        return True


class _ListLiar(list[Any]):
    """A list whose own iteration yields more than it holds."""

    def __iter__(self) -> Iterator[Any]:
        yield from ["a", "b", "c"]


def test_metadata_values_are_checked_by_their_real_type_on_every_path() -> None:
    """An object that fakes its class is refused by name; a str subclass is checked and stored
    as the plain str it holds, whatever its own methods say; a list subclass as what it holds."""
    refused = (
        (
            _ClaimsInt(),
            "values must be JSON (str, number, bool, null, list, object); "
            "metadata.v is a _ClaimsInt",
        ),
        (
            _ClaimsStr(),
            "values must be JSON (str, number, bool, null, list, object); "
            "metadata.v is a _ClaimsStr",
        ),
        (_AsciiLiar("x\ud800"), "must be valid Unicode (it holds a lone surrogate)"),
    )
    for value, rule in refused:
        data = event_data(metadata={"v": value})
        for check, field in (
            (lambda d=data: NewEvent(**d), "metadata"),
            (lambda d=data: check_event(d), "metadata"),
            (lambda d=data: check_batch([d]), "[0].metadata"),
        ):
            with pytest.raises(ValidationError) as info:
                check()
            assert [(p.field, p.rule) for p in info.value.problems] == [(field, rule)]
    data = event_data(metadata={_AsciiLiar("k"): _AsciiLiar("v"), "l": _ListLiar(["x"])})
    for fields, metadata_json, _found in (check_event(data), *check_batch([data])):
        assert metadata_json == '{"k":"v","l":["x"]}'
        assert [type(k) for k in fields["metadata"]] == [str, str]
        assert type(fields["metadata"]["k"]) is str
    assert NewEvent(**data).metadata == {"k": "v", "l": ["x"]}


class _PosesAsPlain(str):
    """A key that hashes and compares as an ordinary key whatever it holds."""

    def __hash__(self) -> int:
        return hash("reason")

    def __eq__(self, other: object) -> bool:
        return True


@pytest.mark.parametrize(
    ("metadata", "secret"),
    [
        ({"reason": "BackOff", "note": "password=hunter2-value"}, "hunter2-value"),
        ({"outer": {"inner": "Authorization: Bearer abcdefghijklmnopqrstuvwx"}}, "abcdefghijkl"),
        ({"reason": "x", "args": ["-token", "s3cr3t-flag-value"]}, "s3cr3t-flag-value"),
        ({"env": {"name": "DB_PASSWORD", "value": "pair-value-1234"}}, "pair-value-1234"),
        ({"reason": "x", "password": "named-value-1234"}, "named-value-1234"),
    ],
)
def test_a_mapping_s_metadata_is_scrubbed_the_same_once_its_keys_are_known(
    metadata: dict[str, Any], secret: str
) -> None:
    """Once every key of a metadata shape is known to the scrubber, a mapping's metadata is
    not walked again, alone or in a batch (its validation gathered the strings): the result
    stays the model's."""
    model = NewEvent(**event_data(metadata=copy.deepcopy(metadata)))
    for _ in range(3):  # the first sees the keys; the later ones take the gathered strings
        alone = check_event(event_data(metadata=copy.deepcopy(metadata)))
        in_batch = check_batch([event_data(metadata=copy.deepcopy(metadata)) for _ in range(2)])
        for fields, metadata_json, redactions in (alone, *in_batch):
            assert (fields["metadata"], metadata_json, redactions) == (
                model.metadata,
                model.metadata_json,
                model.redactions,
            )
            assert secret not in (metadata_json or "")


def test_a_key_that_poses_as_an_ordinary_one_is_scrubbed_by_what_it_holds() -> None:
    check_event(event_data(metadata={"reason": "seen"}))  # "reason" is a known, plain key
    posing = {_PosesAsPlain("password"): "hunter2-posing-value"}
    for _fields, metadata_json, redactions in (
        check_event(event_data(metadata=posing)),
        *check_batch([event_data(metadata=posing)]),
    ):
        assert "hunter2-posing-value" not in (metadata_json or "")
        assert [r.rule for r in redactions] == ["secret_key"]
