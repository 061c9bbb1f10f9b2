"""Where the database lives: argument, environment, default."""

from __future__ import annotations

from pathlib import Path

import pytest

from kube9_store import EventStore, ValidationError
from kube9_store.backends.sqlite import database_file
from kube9_store.config import DEFAULT_DB_PATH, resolve_url


def test_default_is_the_spec_path() -> None:
    assert database_file(resolve_url(None, environ={})) == DEFAULT_DB_PATH


def test_explicit_argument_wins_over_environment(tmp_path: Path) -> None:
    env = {"KUBE9_DB_URL": "sqlite:////elsewhere.db", "DB_PATH": "/elsewhere"}
    assert database_file(resolve_url(tmp_path / "a.db", environ=env)) == tmp_path / "a.db"


def test_kube9_db_url_wins_over_db_path() -> None:
    env = {"KUBE9_DB_URL": "sqlite:////srv/events.db", "DB_PATH": "/elsewhere"}
    assert database_file(resolve_url(None, environ=env)) == Path("/srv/events.db")


def test_db_path_is_a_directory_holding_kube9_db() -> None:
    assert database_file(resolve_url(None, environ={"DB_PATH": "/var/lib/k9"})) == Path(
        "/var/lib/k9/kube9.db"
    )


def test_relative_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert database_file(resolve_url("rel.db", environ={})) == tmp_path / "rel.db"


def test_a_home_directory_is_expanded_as_a_shell_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``~`` is the home directory; ``~name`` of a user that does not exist stays a relative
    path (pathlib would raise RuntimeError instead)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert database_file(resolve_url("~/k.db", environ={})) == tmp_path / "home" / "k.db"
    unknown = "~no-such-user-0"
    assert database_file(resolve_url(unknown, environ={})) == tmp_path / unknown


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"KUBE9_DB_URL": "/just/a/path"}, "KUBE9_DB_URL"),
        ({"KUBE9_DB_URL": "not a url://x"}, "KUBE9_DB_URL"),
    ],
)
def test_bad_environment_names_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ValidationError) as info:
        resolve_url(None, environ=environ)
    assert info.value.fields == [variable]


def test_db_path_pointing_at_a_file_names_the_variable(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValidationError) as info:
        resolve_url(None, environ={"DB_PATH": str(f)})
    assert info.value.fields == ["DB_PATH"]


def test_open_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBE9_DB_URL", raising=False)
    monkeypatch.setenv("DB_PATH", str(tmp_path / "pv"))
    with EventStore.open() as s:
        assert database_file(s.url) == tmp_path / "pv" / "kube9.db"
    assert (tmp_path / "pv" / "kube9.db").exists()


@pytest.mark.parametrize("bad", ["", "   ", "postgresql+nosuchdriver://x/y"])
def test_bad_db_argument_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        EventStore.open(bad)
    assert info.value.fields == ["db"]
