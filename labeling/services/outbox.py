"""The transactional outbox: Celery tasks are published from committed rows, never on a request's path.

Invariants:
- outbox_enqueue writes the message in the caller's transaction, so a job or
  run exists with its message or not at all (a rolled-back request sends nothing);
- after commit the request makes one quick attempt to publish (short broker
  timeouts, no retries), so with a healthy broker work starts at once and with
  the broker down the request still answers in well under 2 s;
- outbox_relay publishes whatever is left, oldest first, as soon as the
  broker answers again; delivery is at least once, and every task it
  publishes refuses to run its record twice.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import CharField, Exists, F, OuterRef, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from annotate.celery import app as celery_app
from labeling.models import OutboxMessage

log = logging.getLogger(__name__)


def _connection():
    # One short-lived connection with tight timeouts: a broker that is down
    # answers "no" in about a second instead of kombu's default retries.
    return celery_app.connection_for_write(
        connect_timeout=settings.OUTBOX_BROKER_TIMEOUT_S,
        transport_options={"socket_connect_timeout": settings.OUTBOX_BROKER_TIMEOUT_S,
                           "socket_timeout": settings.OUTBOX_BROKER_TIMEOUT_S, "max_retries": 0},
    )


def outbox_enqueue(*, task: str, args: list | None = None, kwargs: dict | None = None, ref: str = "") -> OutboxMessage:
    """Queue `task` for publishing once the current transaction commits (see module invariants)."""
    msg = OutboxMessage.objects.create(task=task, args=list(args or []), kwargs=dict(kwargs or {}), ref=ref)
    if settings.OUTBOX_PUBLISH_ON_COMMIT:
        transaction.on_commit(lambda: outbox_publish(ids=[msg.pk]))
    return msg


def _publish(rows: list[OutboxMessage]) -> tuple[list[int], str | None]:
    sent: list[int] = []
    try:
        with _connection() as conn:
            conn.ensure_connection(max_retries=0)
            for m in rows:
                # ignore_result: nothing reads these results (jobs and runs keep their state in the
                # database), and waiting on them would put the result store (Redis too) on this path.
                celery_app.send_task(m.task, args=m.args, kwargs=m.kwargs, connection=conn, retry=False,
                                     ignore_result=True)
                sent.append(m.pk)
    except Exception as exc:  # noqa: BLE001 - the broker's failure modes are many; all mean "later"
        return sent, f"{type(exc).__name__}: {exc}"
    return sent, None


@transaction.atomic
def outbox_publish(*, ids: list[int] | None = None, limit: int = 200) -> int:
    """Publish pending messages (these `ids`, or the oldest ones); returns how many went out.

    Rows are claimed with SKIP LOCKED, so a request's attempt and the relay
    never publish the same row at once. On a failure the rest stay pending,
    counting the attempt and keeping the error; nothing is dropped.
    """
    qs = OutboxMessage.objects.select_for_update(skip_locked=True).filter(sent_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    rows = list(qs.order_by("pk")[:limit])
    if not rows:
        return 0
    sent, error = _publish(rows)
    if sent:
        OutboxMessage.objects.filter(pk__in=sent).update(sent_at=timezone.now(), last_error="")
    if error:
        OutboxMessage.objects.filter(pk__in=[m.pk for m in rows if m.pk not in sent]).update(
            attempts=F("attempts") + 1, last_error=error[:2000])
        log.warning("outbox: %d message(s) wait for the broker: %s", len(rows) - len(sent), error)
    return len(sent)


def broker_reachable() -> bool:
    try:
        with _connection() as conn:
            conn.ensure_connection(max_retries=0)
        return True
    except Exception:  # noqa: BLE001
        return False


def outbox_relay(*, batch: int = 200, rounds: int = 50) -> int:
    """Publish the whole backlog, oldest first, in batches, once the broker answers.

    The beat task (every OUTBOX_RELAY_SECONDS) and worker start-up call it.
    While the broker is still down it does nothing, so a long outage costs one
    connection attempt per call, not one per message.
    """
    if not OutboxMessage.objects.filter(sent_at__isnull=True).exists() or not broker_reachable():
        return 0
    total = 0
    for _ in range(rounds):
        n = outbox_publish(limit=batch)
        total += n
        if n < batch:
            break
    return total


def outbox_waiting(*, ref: str) -> bool:
    """Whether a record's message has not reached the broker yet (the broker is down)."""
    return OutboxMessage.objects.filter(ref=ref, sent_at__isnull=True).exists()


def _ref(prefix: str, pk_field: str):
    return Concat(Value(prefix), Cast(OuterRef(pk_field), CharField()))


# Conditions on a record's messages, for querysets of jobs or runs (ref = prefix + pk).

def waiting_for_broker(prefix: str, pk_field: str = "pk"):
    """Its message has not reached the broker yet (the broker is down)."""
    return Exists(OutboxMessage.objects.filter(ref=_ref(prefix, pk_field), sent_at__isnull=True))


def handed_over_before(prefix: str, cutoff, pk_field: str = "pk"):
    """Its message reached the broker before `cutoff`, so a worker should have taken it by now."""
    return Exists(OutboxMessage.objects.filter(ref=_ref(prefix, pk_field), sent_at__lt=cutoff))


def never_queued(prefix: str, pk_field: str = "pk"):
    """It has no message at all (records made before the outbox, or by hand)."""
    return ~Exists(OutboxMessage.objects.filter(ref=_ref(prefix, pk_field)))
