from django.db import models
from django.db.models import Q


class OutboxMessage(models.Model):
    """A Celery task to publish, written in the same transaction as the record it is for.

    The broker is never on a request's path: a request commits its job or run
    together with this row, a relay publishes it (at least once) and retries
    while the broker is away. `ref` names the record ("job:12", "run:7").
    """

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    ref = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["id"], name="outbox_pending_idx", condition=Q(sent_at__isnull=True)),
            models.Index(fields=["ref"], name="outbox_ref_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.task}{self.args} ({'sent' if self.sent_at else 'pending'})"
