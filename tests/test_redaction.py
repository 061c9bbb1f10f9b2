"""Secrets never reach the database; harmless look-alikes are kept."""

from __future__ import annotations

import pytest

from kube9_store import EventStore, NewEvent
from kube9_store.secrets.redaction import REDACTED, is_secret_key
from tests.helpers import event_data

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----"


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "PASSWORD",
        "db_password",
        "passwd",
        "token",
        "auth_token",
        "X-Auth-Token",
        "secret",
        "client_secret",
        "clientSecret",
        "api_key",
        "apikey",
        "apiKey",
        "x-api-key",
        "credential",
        "credentials",
        "authorization",
        "Authorization",
        "private_key",
        "privateKey",
        "aws.secret_access_key",
        "AWSSecretAccessKey",
        "auth",
    ],
)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "author",
        "authority",
        "authorName",
        "tokenizer",
        "keyName",
        "monkey",
        "version",
        "tier",
        "secretName",
        "passwordFile",
        "token_ttl",
        "oauth_provider",
    ],
)
def test_harmless_keys_are_kept(key: str) -> None:
    assert not is_secret_key(key)


def test_redaction_reaches_every_depth() -> None:
    meta = {
        "author": "alice",
        "db": {"host": "pg", "password": "hunter2", "replicas": [{"token": "t1"}, {"ok": 1}]},
        "headers": {"X-Auth-Token": "abc", "Accept": "json"},
        "note": f"Bearer {JWT}",
        "jwt_here": JWT,
        "pem": PEM,
        "count": 3,
    }
    ev = NewEvent(**event_data(metadata=meta))
    assert ev.metadata == {
        "author": "alice",
        "db": {"host": "pg", "password": REDACTED, "replicas": [{"token": REDACTED}, {"ok": 1}]},
        "headers": {"X-Auth-Token": REDACTED, "Accept": "json"},
        "note": f"Bearer {REDACTED}",
        "jwt_here": REDACTED,
        "pem": REDACTED,
        "count": 3,
    }
    paths = {r.path for r in ev.redactions}
    assert {"metadata.db.password", "metadata.db.replicas[0].token"} <= paths
    for secret in ("hunter2", "t1", JWT, "MIIEowIBAAKCAQEA7"):
        assert secret not in repr(ev.redactions)


def test_caller_metadata_is_not_modified() -> None:
    meta = {"password": "hunter2"}
    NewEvent(**event_data(metadata=meta))
    assert meta == {"password": "hunter2"}


def test_free_text_has_credential_patterns_replaced() -> None:
    ev = NewEvent(
        **event_data(
            title="Login with Bearer abcdefghijklmnop failed",
            description=f"token was {JWT} and key {PEM} end",
        )
    )
    assert ev.title == f"Login with Bearer {REDACTED} failed"
    assert ev.description == f"token was {REDACTED} and key {REDACTED} end"


def test_nothing_secret_is_stored(sqlite_store: EventStore, db_path) -> None:
    store = sqlite_store
    store.record(event_data(metadata={"auth": {"password": "hunter2"}, "apiKey": "k-123456"}))
    raw = db_path.read_bytes() + db_path.with_name(db_path.name + "-wal").read_bytes()
    assert b"hunter2" not in raw and b"k-123456" not in raw
