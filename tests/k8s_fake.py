"""A protocol-faithful fake Kubernetes API server for events, on 127.0.0.1 (aiohttp), that
the official ``kubernetes`` client talks to unchanged, and the truth it serves.

What it plays, as the real API server does for core/v1 events (no watch cache):

- ``GET /api/v1/namespaces/kube-system``: the namespace whose uid names the cluster;
- LIST ``/api/v1/events`` and ``/api/v1/namespaces/{ns}/events`` with ``limit`` and
  ``continue`` (a consistent snapshot; a continue token can be made to expire: 410);
- WATCH (``?watch=true&resourceVersion=N``) as a chunked stream of JSON lines: ADDED, MODIFIED
  (count and lastTimestamp, or ``series`` for events.k8s.io-style events), DELETED (the event's
  TTL), optional BOOKMARK lines, ending cleanly at ``timeoutSeconds``;
- a resourceVersion older than the compacted history: HTTP 410, an ERROR line with code 410 in
  a 200 stream, or an immediate empty 200 (``stale`` decides); one newer than the store:
  504 "Too large resource version";
- scripted faults, played by the next watch request: ``http410``, ``empty200``, ``hang`` (no
  byte until the client gives up), ``too_large``, ``error500``; and by the watch open now when
  it next has changes to send: ``stream410`` (an ERROR line after two events) and ``cut`` (a
  disconnect in the middle of the third line).

Everything that ever existed is kept in :attr:`FakeCluster.truth` (every (uid, count) the
server held), so a test compares the stored history with it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

BASE_TIME = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


def ts(seconds: float) -> str:
    return (BASE_TIME + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Stored:
    obj: dict[str, Any]


@dataclass
class FakeCluster:
    """The API server's state: live events, the change history, and faults to play."""

    kube_system_uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    rv: int = 1000
    live: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    #: Watches from a resourceVersion below this are too old.
    compacted_before: int = 0
    #: How a too-old resourceVersion is answered: "http" (410), "stream" (ERROR line) or
    #: "empty" (an immediate empty 200, as for events without a watch cache).
    stale: str = "http"
    faults: deque[str] = field(default_factory=deque)
    #: Continue tokens issued before this many are expired.
    continue_expired_before: int = 0
    continues_issued: int = 0
    bookmarks: bool = False
    #: Every (uid, count) the server ever held, and each uid's last count.
    truth: set[tuple[str, int]] = field(default_factory=set)
    last_count: dict[str, int] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    clock: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- changes ---------------------------------------------------------------------------

    def _record(self, kind: str, obj: dict[str, Any]) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.history.append((self.rv, kind, json.loads(json.dumps(obj))))

    def add(
        self,
        name: str,
        *,
        namespace: str = "default",
        reason: str = "BackOff",
        series: bool = False,
        kind: str = "Pod",
    ) -> str:
        with self.lock:
            uid = str(uuid.uuid4())
            self.clock += 1
            at = ts(self.clock)
            obj: dict[str, Any] = {
                "kind": "Event",
                "apiVersion": "v1",
                "metadata": {
                    "name": f"{name}.{uid[:8]}",
                    "namespace": namespace,
                    "uid": uid,
                    "creationTimestamp": at,
                },
                "involvedObject": {"kind": kind, "name": name, "namespace": namespace},
                "reason": reason,
                "message": f"{reason} for {name}",
                "type": "Warning",
                "source": {"component": "kubelet"},
            }
            if series:
                obj["eventTime"] = at[:-1] + ".000000Z"
                obj["reportingComponent"] = "kubelet"
            else:
                obj.update(count=1, firstTimestamp=at, lastTimestamp=at)
            self.live[uid] = obj
            self.truth.add((uid, 1))
            self.last_count[uid] = 1
            self._record("ADDED", obj)
            return uid

    def bump(self, uid: str, same_second: bool = False) -> int:
        """The event happened again: count + 1 (or ``series`` for events.k8s.io events)."""
        with self.lock:
            obj = self.live[uid]
            if not same_second:
                self.clock += 1
            at = ts(self.clock)
            if "eventTime" in obj:
                count = obj.get("series", {}).get("count", 1) + 1
                obj["series"] = {"count": count, "lastObservedTime": at}
            else:
                count = obj["count"] + 1
                obj.update(count=count, lastTimestamp=at)
            self.truth.add((uid, count))
            self.last_count[uid] = count
            self._record("MODIFIED", obj)
            return int(count)

    def expire(self, uid: str) -> None:
        """The event's TTL passed: the server deletes it."""
        with self.lock:
            obj = self.live.pop(uid)
            self._record("DELETED", obj)

    def compact(self) -> None:
        """etcd compaction: every resourceVersion before the current one is too old to watch
        from."""
        with self.lock:
            self.compacted_before = self.rv

    def expire_continues(self) -> None:
        """Every continue token issued so far, and the next one, is expired."""
        with self.lock:
            self.continue_expired_before = self.continues_issued + 2

    # -- serving ---------------------------------------------------------------------------

    def snapshot(self, namespace: str | None) -> tuple[int, list[dict[str, Any]]]:
        with self.lock:
            items = [
                json.loads(json.dumps(o))
                for o in self.live.values()
                if namespace is None or o["metadata"]["namespace"] == namespace
            ]
            return self.rv, items

    def changes_after(
        self, rv: int, namespace: str | None
    ) -> list[tuple[int, str, dict[str, Any]]]:
        with self.lock:
            # the history is in resourceVersion order: find the first entry after rv
            lo, hi = 0, len(self.history)
            while lo < hi:
                mid = (lo + hi) // 2
                if self.history[mid][0] <= rv:
                    lo = mid + 1
                else:
                    hi = mid
            return [
                h
                for h in self.history[lo:]
                if namespace is None or h[2]["metadata"]["namespace"] == namespace
            ]

    def bookmark_after(self, rv: int, namespace: str | None) -> int:
        """The resourceVersion a bookmark may carry: the current one when nothing after
        ``rv`` is left to send, else ``rv``."""
        with self.lock:
            if self.history and self.history[-1][0] > rv:
                return rv
            return self.rv


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class FakeApiServer:
    """Serves a :class:`FakeCluster` on 127.0.0.1 from a thread of its own."""

    def __init__(self, cluster: FakeCluster | None = None) -> None:
        self.cluster = cluster or FakeCluster()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        #: Watch connections open now.
        self.open_watches = 0
        self._snapshots: dict[str, list[dict[str, Any]]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeApiServer:
        self._thread = threading.Thread(target=self._serve, daemon=True, name="fake-apiserver")
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake API server did not start")
        return self

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/{ns}", self.namespace)
        app.router.add_get("/api/v1/events", self.events)
        app.router.add_get("/api/v1/namespaces/{ns}/events", self.events)
        runner = self._runner = web.AppRunner(app, handle_signals=False)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kubeconfig(self, path: Any, context: str = "fake") -> Any:
        """A kubeconfig file naming this server (no credentials: it checks none)."""
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": "not-checked"}}],
            "contexts": [{"name": context, "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": context,
        }
        path.write_text(json.dumps(doc))
        return path

    # -- handlers --------------------------------------------------------------------------

    async def namespace(self, request: web.Request) -> web.Response:
        ns = request.match_info["ns"]
        if ns != "kube-system":
            return web.json_response(
                status(404, "NotFound", f'namespaces "{ns}" not found'), status=404
            )
        return web.json_response(
            {
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": {"name": "kube-system", "uid": self.cluster.kube_system_uid},
            }
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        ns = request.match_info.get("ns")
        c = self.cluster
        c.requests.append(
            ("watch " if q.get("watch") in ("true", "1") else "list ")
            + f"{request.path}?{request.query_string}"
        )
        if q.get("watch") in ("true", "1"):
            return await self.watch(request, ns)
        limit = int(q.get("limit", "0") or 0)
        token = q.get("continue")
        if token:
            snap_rv, offset, issued = json.loads(base64.urlsafe_b64decode(token.encode()))
            if issued < c.continue_expired_before:
                return web.json_response(
                    status(
                        410,
                        "Expired",
                        "The provided continue parameter is too old to display a consistent list result.",
                    ),
                    status=410,
                )
            items = self._snapshots[token]
        else:
            snap_rv, items = c.snapshot(ns)
            items.sort(key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
            offset = 0
        page = items[offset : offset + limit] if limit else items[offset:]
        meta: dict[str, Any] = {"resourceVersion": str(snap_rv)}
        if limit and offset + limit < len(items):
            c.continues_issued += 1
            nxt = base64.urlsafe_b64encode(
                json.dumps([snap_rv, offset + limit, c.continues_issued]).encode()
            ).decode()
            self._snapshots[nxt] = items
            meta["continue"] = nxt
        return web.json_response(
            {"kind": "EventList", "apiVersion": "v1", "metadata": meta, "items": page}
        )

    async def watch(self, request: web.Request, ns: str | None) -> web.StreamResponse:
        c = self.cluster
        q = request.query
        timeout = float(q.get("timeoutSeconds", "300"))
        rv = int(q.get("resourceVersion", "0") or 0)
        fault = c.faults.popleft() if c.faults else None
        if fault == "http410" or (rv < c.compacted_before and c.stale == "http"):
            return web.json_response(
                status(410, "Expired", f"too old resource version: {rv} ({c.compacted_before})"),
                status=410,
            )
        if fault == "too_large" or rv > c.rv + 1000:
            return web.json_response(
                status(504, "Timeout", f"Too large resource version: {rv}, current: {c.rv}"),
                status=504,
            )
        if fault == "error500":
            return web.json_response(status(500, "InternalError", "etcd unavailable"), status=500)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        if fault == "empty200" or (rv < c.compacted_before and c.stale == "empty"):
            await response.write_eof()
            return response
        if rv < c.compacted_before:  # stale == "stream"
            await self._line(
                response,
                {
                    "type": "ERROR",
                    "object": status(410, "Expired", f"too old resource version: {rv}"),
                },
            )
            await response.write_eof()
            return response
        if fault == "hang":
            await asyncio.sleep(timeout + 60)
            return response
        self.open_watches += 1
        deadline = time.monotonic() + timeout
        sent = 0
        last_bookmark = time.monotonic()
        try:
            while time.monotonic() < deadline:
                changes = c.changes_after(rv, ns)
                if changes and fault is None and c.faults and c.faults[0] in ("cut", "stream410"):
                    fault, sent = c.faults.popleft(), 0  # a fault for the watch open now
                for change_rv, kind, obj in changes:
                    if fault == "stream410" and sent >= 2:
                        await self._line(
                            response,
                            {
                                "type": "ERROR",
                                "object": status(410, "Expired", "too old resource version"),
                            },
                        )
                        await response.write_eof()
                        return response
                    if fault == "cut" and sent >= 2:
                        text = json.dumps({"type": kind, "object": obj})
                        await response.write(text[: len(text) // 2].encode())
                        assert request.transport is not None
                        request.transport.close()
                        return response
                    await self._line(response, {"type": kind, "object": obj})
                    rv = change_rv
                    sent += 1
                if c.bookmarks and time.monotonic() - last_bookmark > 0.3:
                    rv = c.bookmark_after(rv, ns)
                    await self._line(
                        response,
                        {
                            "type": "BOOKMARK",
                            "object": {
                                "kind": "Event",
                                "apiVersion": "v1",
                                "metadata": {"resourceVersion": str(rv)},
                            },
                        },
                    )
                    last_bookmark = time.monotonic()
                await asyncio.sleep(0.01)
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.open_watches -= 1
        return response

    @staticmethod
    async def _line(response: web.StreamResponse, doc: dict[str, Any]) -> None:
        await response.write(json.dumps(doc).encode() + b"\n")
