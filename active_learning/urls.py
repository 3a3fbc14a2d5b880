"""Dashboard pages (mounted under /manage/) and manager API (under /api/) of active learning."""

from django.urls import path

from active_learning import api, dashboard

dashboard_urls = [
    path("<slug:slug>/model/", dashboard.model, name="model"),
    path("<slug:slug>/model/retrain/", dashboard.retrain, name="retrain"),
    path("<slug:slug>/model/v<int:version>/promote/", dashboard.promote, name="promote"),
    path("<slug:slug>/model/settings/", dashboard.settings, name="al-settings"),
]

api_urls = [
    path("manage/campaigns/<slug:slug>/retrain/", api.RetrainView.as_view(), name="api-manage-retrain"),
    path("manage/campaigns/<slug:slug>/models/<int:version>/promote/", api.PromoteView.as_view(),
         name="api-manage-promote"),
    path("manage/campaigns/<slug:slug>/training-runs/", api.TrainingRunsView.as_view(),
         name="api-manage-training-runs"),
    path("manage/campaigns/<slug:slug>/training-runs/<int:run_id>/", api.TrainingRunView.as_view(),
         name="api-manage-training-run"),
    path("manage/campaigns/<slug:slug>/active-learning/", api.ActiveLearningSettingsView.as_view(),
         name="api-manage-active-learning"),
]
