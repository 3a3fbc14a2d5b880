from django.apps import AppConfig


class ActiveLearningConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "active_learning"
    verbose_name = "Active learning"

    def ready(self):
        # Plug into labeling's extension points; labeling never imports this app.
        from active_learning import selectors
        from active_learning.services.demo import demo_campaign_setup
        from active_learning.services.training import al_config_copy
        from labeling import extensions

        extensions.dashboard_tab_register(
            extensions.DashboardTab(key="model", label="Model", url_name="active_learning:model", order=50)
        )
        extensions.overview_panel_register(
            extensions.OverviewPanel(key="model", template="active_learning/_overview_panel.html",
                                     context=selectors.overview_panel_context, order=50)
        )
        extensions.demo_hook_register("active_learning", demo_campaign_setup)
        extensions.model_prelabels_register("active_learning", selectors.model_prelabels)
        extensions.campaign_copy_hook_register("active_learning", al_config_copy)
