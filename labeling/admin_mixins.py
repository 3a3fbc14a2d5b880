"""Admin permissions for campaign managers, shared by the labeling and active-learning admins."""

from django.contrib import admin

from labeling.models import Campaign, Membership


class ManagedCampaignsMixin:
    """Staff who manage a campaign (Membership role manager) see and edit its rows; superusers see all.

    Without this a demo manager, who is staff but has no Django model
    permissions, gets 403 on the settings they are meant to tune.
    """

    manager_can_change = False
    manager_can_add = False
    # How a row names its campaign: "campaign_id", or "pk" for the Campaign itself.
    campaign_field = "campaign_id"

    def _campaign_id(self, obj):
        return getattr(obj, self.campaign_field)

    def _managed(self, request):
        return Membership.objects.filter(user=request.user, role=Membership.Role.MANAGER).values("campaign_id")

    def _is_manager(self, request, obj=None) -> bool:
        if not request.user.is_active or not request.user.is_staff:
            return False
        managed = self._managed(request)
        return managed.filter(campaign_id=self._campaign_id(obj)).exists() if obj is not None else managed.exists()

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.campaign_field.removesuffix('_id')}__in": self._managed(request)})

    def has_module_permission(self, request):
        return super().has_module_permission(request) or self._is_manager(request)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or self._is_manager(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) or (
            self.manager_can_change and self._is_manager(request, obj)
        )

    def has_add_permission(self, request, *args):
        return super().has_add_permission(request, *args) or (self.manager_can_add and self._is_manager(request))

    def get_list_filter(self, request):
        # The plain campaign filter lists every campaign's name; a manager sees only theirs
        # (RelatedOnlyFieldListFilter offers the campaigns of the rows get_queryset lets them see).
        filters = super().get_list_filter(request)
        if request.user.is_superuser:
            return filters
        return tuple((f, admin.RelatedOnlyFieldListFilter) if f == "campaign" else f for f in filters)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # A manager picks only among their own campaigns.
        if db_field.name == "campaign" and not request.user.is_superuser:
            kwargs["queryset"] = Campaign.objects.filter(pk__in=self._managed(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
