"""The plain facts of the event database, importable without SQLAlchemy or pydantic: the event
vocabulary, the events table's columns, the tables and the revision at the head of the chain.

:mod:`kube9_store.events.models` and :mod:`kube9_store.schema.tables` build on these (a test
checks the schema's tables against them), and the lean read path of the CLI
(:mod:`kube9_store.lean.read`) reads a database with nothing else.
"""

from __future__ import annotations

from typing import Literal, get_args

from kube9_store.events.fields import NAMES, SPEC_NAMES

EventType = Literal["cluster", "operator", "insight", "assessment", "health", "system"]
Severity = Literal["info", "warning", "error", "critical"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
SEVERITIES: tuple[str, ...] = get_args(Severity)

#: Columns of ``events`` in the spec's order, as stored (v2 appended ``acknowledged``): the
#: event fields' names (:mod:`kube9_store.events.fields` declares each).
EVENT_COLUMNS: tuple[str, ...] = NAMES

#: The spec's version 1 columns of ``events``, in order (what another program's rows hold).
SPEC_COLUMNS: tuple[str, ...] = SPEC_NAMES

#: The tables a database at the head of the chain has (besides Alembic's ``alembic_version``).
HEAD_TABLES = frozenset(
    {
        "schema_version",
        "events",
        "event_counts",
        "operations_state",
        "k8s_event_keys",
        "ingest_checkpoints",
    }
)

#: The Alembic branch label of kube9_store's revisions (``alembic downgrade kube9_store@-1``).
BRANCH = "kube9_store"
#: Every revision id of the branch starts so, and no application's can collide with it.
REVISION_PREFIX = BRANCH + "_"
#: The head of the revision chain (a test checks it against Alembic).
HEAD_REVISION = REVISION_PREFIX + "0007"
HEAD_VERSION = 7

#: SQLite's stored time key (revision 0007): ``created_at`` as integer milliseconds since 1970,
#: a column SQLite computes once when a row is written (``GENERATED ALWAYS ... STORED``) and
#: every SQLite index of ``events`` ends with; exact integer arithmetic on the stored form
#: ``YYYY-MM-DDTHH:MM:SS.mmmZ``, so it orders exactly as the text does.
TIME_KEY_COLUMN = "created_ms"
#: The time key of a stored-form timestamp ``{0}`` (a column or a parameter), in SQLite's SQL.
TIME_KEY_SQL = "CAST(strftime('%s', {0}) AS INTEGER) * 1000 + CAST(substr({0}, 21, 3) AS INTEGER)"

#: Where the database is: $KUBE9_DB_URL (a URL), else $DB_PATH/kube9.db, else the spec's
#: default file (:func:`kube9_store.config.resolve_url` reads them).
ENV_DB_URL = "KUBE9_DB_URL"
ENV_DB_PATH = "DB_PATH"
DB_FILE_NAME = "kube9.db"
DEFAULT_DB_FILE = "/data/kube9.db"

#: How long a connection waits for a lock before failing, by default (seconds).
BUSY_TIMEOUT_S = 5.0
