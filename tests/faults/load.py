"""A closed-loop labeling load over real HTTP: each client leases its next task and submits it.

Every answer is recorded (time, kind, status, JSON error code), and a submit
whose answer was a 503 or a broken connection is retried with the same
submission id (the idempotency key), so "acknowledged" means the client got
a 200 for that submission and the database must hold it.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from dataclasses import dataclass, field


@dataclass
class Sample:
    t: float  # when the request was sent
    kind: str
    status: int  # -1: no HTTP answer (connection refused or reset)
    error: str | None  # the JSON error code of a 4xx/5xx, or "not-json"
    done: float = 0.0  # when its answer (or the broken connection) came back


@dataclass
class Client:
    port: int
    slug: str
    token: str
    samples: list[Sample] = field(default_factory=list)
    acked: list[dict] = field(default_factory=list)
    conn: http.client.HTTPConnection | None = None

    def post(self, kind: str, path: str, body: dict) -> tuple[int, dict | None]:
        t = time.monotonic()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.conn.request("POST", path, body=json.dumps(body).encode(), headers={
                "Authorization": f"Token {self.token}", "Content-Type": "application/json"})
            resp = self.conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException):
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            self.samples.append(Sample(t, kind, -1, None, time.monotonic()))
            return -1, None
        error = None
        payload = None
        if raw:
            try:
                payload = json.loads(raw)
            except ValueError:
                error = "not-json"
        if resp.status >= 400 and error is None:
            error = payload.get("error") if isinstance(payload, dict) else "not-json"
        self.samples.append(Sample(t, kind, resp.status, error, time.monotonic()))
        return resp.status, payload

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            status, task = self.post("next", f"/api/campaigns/{self.slug}/next/", {})
            if status == 204:
                return
            if status != 200:
                time.sleep(0.05)
                continue
            body = {"submission_id": str(uuid.uuid4()), "finish_reason": "auto", "active_ms": 1000,
                    "ratings": [{"step": i, "rating": 1} for i in range(len(task["steps"]))]}
            path = f"/api/assignments/{task['id']}/submit/"
            # Retry an unknown outcome until it is known, even past `stop`: the point is that
            # nothing acknowledged is lost, so each submit must end acknowledged or refused.
            deadline = time.monotonic() + 60
            while True:
                status, _ = self.post("submit", path, body)
                if status not in (-1, 503) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            if status == 200:
                self.acked.append({"assignment": task["id"], "submission_id": body["submission_id"],
                                   "steps": len(task["steps"]), "t": time.monotonic()})
        if self.conn is not None:
            self.conn.close()


class Load:
    def __init__(self, *, port: int, slug: str, tokens: list[str]):
        self.clients = [Client(port, slug, tok) for tok in tokens]
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=c.run, args=(self.stop_event,), daemon=True) for c in self.clients]

    def start(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=90)

    @property
    def samples(self) -> list[Sample]:
        return sorted((s for c in self.clients for s in c.samples), key=lambda s: s.t)

    @property
    def acked(self) -> list[dict]:
        return [a for c in self.clients for a in c.acked]

    def acked_after(self, t: float) -> int:
        return sum(1 for a in self.acked if a["t"] > t)
