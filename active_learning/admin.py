from django.contrib import admin, messages

from active_learning import models
from active_learning.services.training import training_run_request
from labeling.errors import LabelingError
from labeling.models import Membership


class ManagedCampaignsMixin:
    """Staff who manage a campaign (Membership role manager) see and edit its rows; superusers see all.

    Without this a demo manager, who is staff but has no Django model
    permissions, gets 403 on the settings they are meant to tune.
    """

    manager_can_change = False

    def _managed(self, request):
        return Membership.objects.filter(user=request.user, role=Membership.Role.MANAGER).values("campaign_id")

    def _is_manager(self, request, obj=None) -> bool:
        if not request.user.is_active or not request.user.is_staff:
            return False
        managed = self._managed(request)
        return managed.filter(campaign_id=obj.campaign_id).exists() if obj is not None else managed.exists()

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(campaign_id__in=self._managed(request))

    def has_module_permission(self, request):
        return super().has_module_permission(request) or self._is_manager(request)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or self._is_manager(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) or (
            self.manager_can_change and self._is_manager(request, obj)
        )


@admin.register(models.ActiveLearningConfig)
class ActiveLearningConfigAdmin(ManagedCampaignsMixin, admin.ModelAdmin):
    manager_can_change = True
    list_display = ("campaign", "enabled", "strategy", "retrain_every_minutes", "retrain_after_labels",
                    "refill_size", "updated_at")
    list_editable = ("enabled", "retrain_every_minutes", "retrain_after_labels")
    actions = ["retrain_now"]

    @admin.action(description="Retrain now (retrain -> score -> refill)")
    def retrain_now(self, request, queryset):
        for config in queryset.select_related("campaign"):
            try:
                run = training_run_request(
                    campaign=config.campaign, trigger=models.TrainingRun.Trigger.MANUAL, user=request.user
                )
            except LabelingError as exc:
                self.message_user(request, f"{config.campaign.slug}: {exc}", level=messages.WARNING)
            else:
                self.message_user(request, f"{config.campaign.slug}: queued training run {run.pk}")


@admin.register(models.PRMModel)
class PRMModelAdmin(ManagedCampaignsMixin, admin.ModelAdmin):
    list_display = ("campaign", "version", "status", "is_active", "backbone", "label_count", "created_at")
    list_filter = ("campaign", "status", "is_active")


@admin.register(models.TrainingRun)
class TrainingRunAdmin(ManagedCampaignsMixin, admin.ModelAdmin):
    list_display = ("id", "campaign", "status", "stage", "trigger", "model", "promoted", "started_at",
                    "finished_at")
    list_filter = ("campaign", "status", "trigger")
    readonly_fields = ("error",)
