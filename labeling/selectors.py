"""Read-only queries used by views and the API."""

from __future__ import annotations

from django.db.models import Count, F, Q

from labeling.models import Campaign


def campaigns_for_user(*, user):
    """Campaigns the user belongs to, with pool and progress counts (one query)."""
    return (
        Campaign.objects.filter(memberships__user=user)
        .exclude(status=Campaign.Status.ARCHIVED)
        .annotate(
            role=F("memberships__role"),
            pool=Count("tasks", distinct=True),
            done=Count("tasks", filter=Q(tasks__completed__gte=F("overlap")), distinct=True),
        )
        .order_by("slug")
    )
