from django.conf import settings
from django.db import models
from django.db.models import Q


class Invite(models.Model):
    """A one-time link that lets a new member set their password on first visit.

    Only a hash of the token is stored; the link itself is shown once (or mailed).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invites")
    campaign = models.ForeignKey("labeling.Campaign", on_delete=models.CASCADE, related_name="invites")
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    emailed = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user"], name="invite_open_user_idx", condition=Q(used_at__isnull=True))]

    def __str__(self) -> str:
        return f"invite {self.pk} for user {self.user_id}"
