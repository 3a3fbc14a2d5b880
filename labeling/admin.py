from django.contrib import admin

from labeling import models
from labeling.admin_mixins import ManagedCampaignsMixin


@admin.register(models.Campaign)
class CampaignAdmin(ManagedCampaignsMixin, admin.ModelAdmin):
    manager_can_change = True
    campaign_field = "pk"
    list_display = ("slug", "name", "mode", "reveal", "overlap", "qc_rate", "screening_size", "autopause_threshold",
                    "status", "created_at")
    list_filter = ("mode", "reveal", "status")
    search_fields = ("slug", "name")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(models.Membership)
class MembershipAdmin(ManagedCampaignsMixin, admin.ModelAdmin):
    manager_can_change = True
    manager_can_add = True
    list_display = ("campaign", "user", "role", "status", "can_adjudicate", "status_reason")
    list_filter = ("role", "status", "campaign")
    raw_id_fields = ("user",)


@admin.register(models.Problem)
class ProblemAdmin(admin.ModelAdmin):
    list_display = ("id", "source", "source_id", "ground_truth_answer")
    list_filter = ("source",)
    search_fields = ("text", "source_id")


class StepInline(admin.TabularInline):
    model = models.Step
    extra = 0


@admin.register(models.Solution)
class SolutionAdmin(admin.ModelAdmin):
    list_display = ("id", "problem", "generator", "final_answer", "answer_is_correct", "generation")
    list_filter = ("answer_is_correct", "generator")
    raw_id_fields = ("problem",)
    inlines = [StepInline]


@admin.register(models.Task)
class TaskAdmin(ManagedCampaignsMixin, admin.ModelAdmin):
    list_display = ("id", "campaign", "solution", "priority", "is_gold", "taken", "completed", "queue_strategy")
    list_filter = ("campaign", "is_gold", "is_screening", "queue_strategy")
    raw_id_fields = ("solution",)


class StepLabelInline(admin.TabularInline):
    model = models.StepLabel
    extra = 0
    raw_id_fields = ("step",)


@admin.register(models.Assignment)
class AssignmentAdmin(ManagedCampaignsMixin, admin.ModelAdmin):
    list_display = ("id", "campaign", "annotator", "status", "finish_reason", "submitted_at", "source")
    list_filter = ("campaign", "status", "finish_reason", "source")
    raw_id_fields = ("task", "solution", "annotator")
    inlines = [StepLabelInline]


@admin.register(models.Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "campaign", "progress_done", "progress_total", "created_at")
    list_filter = ("kind", "status")


admin.site.register(models.Profile)
admin.site.register(models.GoldStepLabel)
