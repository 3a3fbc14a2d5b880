from django.contrib import admin, messages

from active_learning import models
from active_learning.services.training import training_run_request
from labeling.admin_mixins import ManagedCampaignsMixin
from labeling.errors import LabelingError


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
