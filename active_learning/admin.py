from django.contrib import admin

from active_learning import models


@admin.register(models.PRMModel)
class PRMModelAdmin(admin.ModelAdmin):
    list_display = ("campaign", "version", "status", "is_active", "backbone", "label_count", "created_at")
    list_filter = ("campaign", "status", "is_active")


@admin.register(models.TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "campaign", "status", "model", "started_at", "finished_at")
    list_filter = ("campaign", "status")
