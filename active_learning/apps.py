from django.apps import AppConfig


class ActiveLearningConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "active_learning"
    verbose_name = "Active learning"
