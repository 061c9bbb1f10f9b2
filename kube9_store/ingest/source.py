"""The API server's events, through the official ``kubernetes`` client (optional extra
``kubernetes``): the kube-system namespace's uid, a paginated LIST, and a WATCH read line by
line. Responses are read as raw JSON (no client models: a 100,000-event catch-up spends its
time storing, not building objects), and every way a watch can end is told apart, because each
calls for a different next step (:mod:`kube9_store.ingest.loop`)."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from kube9_store.errors import Kube9StoreError

#: The resource the ingester watches (core/v1 events see events written through either API).
RESOURCE = "events"


class SourceError(Kube9StoreError):
    """The API server answered in a way that calls for a re-list or a retry (``reason`` is a
    metrics label)."""

    reason = "error"
    relist = False


class Expired(SourceError):
    """410 Gone / Expired: the resourceVersion or continue token is older than the server's
    history; only a re-list continues, and events may have been missed."""

    reason = "expired"
    relist = True


class TooLargeResourceVersion(SourceError):
    """The server has not reached the resourceVersion asked for (a restored or different
    etcd): only a re-list continues."""

    reason = "too_large_resource_version"
    relist = True


class Unavailable(SourceError):
    """The request failed (connection refused or reset, 5xx, 429): retried from the last
    checkpoint."""

    reason = "unavailable"


def _status_error(code: int, message: str) -> SourceError:
    text = message.lower()
    if code == 410 or "expired" in text or "too old resource version" in text:
        return Expired(f"HTTP {code}: {message}")
    if "too large resource version" in text:
        return TooLargeResourceVersion(f"HTTP {code}: {message}")
    return Unavailable(f"HTTP {code}: {message}")


def _api_error(exc: Any) -> SourceError:
    status = int(getattr(exc, "status", 0) or 0)
    message = str(getattr(exc, "reason", "") or "")
    body = getattr(exc, "body", None)
    if body:
        with contextlib.suppress(ValueError, TypeError):
            doc = orjson.loads(body)
            if isinstance(doc, Mapping):
                message = str(doc.get("message") or message)
                status = int(doc.get("code") or status)
    return _status_error(status, message)


@dataclass(frozen=True)
class Page:
    """One page of a LIST: its items (raw JSON objects), the list's resourceVersion, and the
    continue token of the next page (None on the last)."""

    items: list[Any]
    resource_version: str
    continue_token: str | None


#: Markers a watch puts on its queue beside the lines.
END, BROKEN, TIMED_OUT = "end", "broken", "timeout"


class Watch:
    """One open WATCH: complete lines parsed as JSON, read by a thread into a bounded queue,
    so the caller can commit on time while the stream is quiet. ``ended`` says how it ended:
    ``"closed"`` (the server closed it cleanly), ``"broken"`` (the connection broke, a partial
    last line discarded), ``"timeout"`` (no byte for longer than the server's own timeout) or
    ``"error"``."""

    def __init__(self, response: Any, max_queued: int = 1000) -> None:
        self._response = response
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(max_queued)
        self.lines = 0
        self.partial_line = False
        self.ended: str | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._read, name="kube9-watch", daemon=True)
        self._thread.start()

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        buffer = bytearray()
        try:
            for segment in self._response.stream(65536, decode_content=True):
                buffer.extend(segment)
                start = 0
                while True:
                    end = buffer.find(b"\n", start)
                    if end < 0:
                        break
                    line = bytes(buffer[start:end]).strip()
                    start = end + 1
                    if line and not self._put(("line", line)):
                        return
                del buffer[:start]
            self.partial_line = bool(bytes(buffer).strip())
            self._put((BROKEN if self.partial_line else END, None))
        except Exception as exc:  # the connection broke mid-stream, or the read timed out
            self.partial_line = bool(bytes(buffer).strip())
            self._put((TIMED_OUT if "timeout" in type(exc).__name__.lower() else BROKEN, exc))

    def next(self, timeout: float) -> dict[str, Any] | None:
        """The next watch event, or None when nothing came within ``timeout`` seconds.
        Raises StopIteration when the stream ended (see :attr:`ended`), SourceError for an
        ERROR line (410 in the stream among them)."""
        try:
            kind, value = self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None
        if kind == END:
            self.ended = "closed"
            raise StopIteration
        if kind in (BROKEN, TIMED_OUT):
            self.ended = kind
            raise StopIteration
        self.lines += 1
        try:
            event = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            self.ended = "error"
            raise Unavailable(f"watch line is not JSON: {exc}") from None
        if not isinstance(event, dict):
            self.ended = "error"
            raise Unavailable("watch line is not a JSON object")
        if event.get("type") == "ERROR":
            obj = event.get("object") if isinstance(event.get("object"), Mapping) else {}
            assert isinstance(obj, Mapping)
            self.ended = "error"
            raise _status_error(int(obj.get("code") or 0), str(obj.get("message") or ""))
        return event

    def close(self) -> None:
        """Stop reading and drop the connection."""
        self._stopped.set()
        response = self._response
        shutdown = getattr(response, "shutdown", None)
        with contextlib.suppress(Exception):
            if callable(shutdown):
                shutdown()
        with contextlib.suppress(Exception):
            response.close()
        with contextlib.suppress(Exception):
            response.release_conn()
        self._thread.join(5)


class KubernetesEvents:
    """core/v1 events of one cluster (all namespaces, or one), through ``api_client`` (a
    ``kubernetes.client.ApiClient``)."""

    resource = RESOURCE

    def __init__(
        self,
        api_client: Any,
        *,
        namespace: str | None = None,
        page_size: int = 500,
        watch_timeout: int = 300,
        connect_timeout: float = 10.0,
        read_grace: float = 30.0,
    ) -> None:
        from kubernetes.client import CoreV1Api

        self.api = CoreV1Api(api_client)
        self.namespace = namespace
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.connect_timeout = connect_timeout
        #: How long past the watch's own timeout a silent server is waited for.
        self.read_grace = read_grace

    def _call(self, **params: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            if self.namespace is None:
                return self.api.list_event_for_all_namespaces(_preload_content=False, **params)
            return self.api.list_namespaced_event(self.namespace, _preload_content=False, **params)
        except ApiException as exc:
            raise _api_error(exc) from None
        except Exception as exc:  # urllib3's connection errors
            raise Unavailable(f"{type(exc).__name__}: {exc}") from None

    def cluster_uid(self) -> str:
        """The uid of the kube-system namespace: the cluster's identity."""
        from kubernetes.client.exceptions import ApiException

        try:
            response: Any = self.api.read_namespace(
                "kube-system", _preload_content=False, _request_timeout=self.connect_timeout
            )
            doc = orjson.loads(response.data)
        except ApiException as exc:
            raise _api_error(exc) from None
        except Exception as exc:
            raise Unavailable(f"{type(exc).__name__}: {exc}") from None
        uid = doc.get("metadata", {}).get("uid") if isinstance(doc, dict) else None
        if not isinstance(uid, str) or not uid:
            raise Unavailable("the kube-system namespace has no uid")
        return uid

    def list_page(self, continue_token: str | None) -> Page:
        """One page of the LIST (its first page when ``continue_token`` is None)."""
        params: dict[str, Any] = {
            "limit": self.page_size,
            "_request_timeout": (self.connect_timeout, max(60.0, self.connect_timeout)),
        }
        if continue_token:
            params["_continue"] = continue_token
        response = self._call(**params)
        try:
            doc = orjson.loads(response.data)
        except Exception as exc:
            raise Unavailable(f"LIST answer is not JSON: {exc}") from None
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        if not isinstance(meta, dict) or not isinstance(doc.get("items"), list):
            raise Unavailable("LIST answer has no items or metadata")
        rv = meta.get("resourceVersion")
        if not isinstance(rv, str) or not rv:
            raise Unavailable("LIST answer has no resourceVersion")
        token = meta.get("continue")
        return Page(doc["items"], rv, token if isinstance(token, str) and token else None)

    def list_all(self) -> Iterator[Page]:
        """Every page of one consistent LIST (an expired continue token raises Expired)."""
        token: str | None = None
        while True:
            page = self.list_page(token)
            yield page
            if page.continue_token is None:
                return
            token = page.continue_token

    def watch(self, resource_version: str) -> Watch:
        """A WATCH from ``resource_version`` (bookmarks asked for; the server may send none)."""
        response = self._call(
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=self.watch_timeout,
            _request_timeout=(self.connect_timeout, self.watch_timeout + self.read_grace),
        )
        return Watch(response)


def api_client(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """A client of the cluster: in-cluster configuration, or ``kubeconfig`` (and its
    ``context``). The errors name what could not be loaded."""
    from kube9_store.errors import Kube9StoreError, ValidationError

    try:
        from kubernetes import client, config
    except ImportError:
        raise Kube9StoreError(
            "ingest kubernetes needs the kubernetes client: pip install 'kube9-store[kubernetes]'"
        ) from None
    configuration = client.Configuration()
    try:
        if kubeconfig is not None or context is not None:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
        else:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException as exc:
        where = "--kubeconfig" if kubeconfig or context else "in-cluster configuration"
        raise ValidationError.single(
            where, f"cannot be loaded: {exc} (outside a cluster, give --kubeconfig FILE)"
        ) from None
    return client.ApiClient(configuration)
