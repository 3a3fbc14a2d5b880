from django.urls import path

from labeling.api import views

urlpatterns = [
    path("campaigns/", views.CampaignListView.as_view(), name="api-campaigns"),
    path("campaigns/<slug:slug>/next/", views.NextTaskView.as_view(), name="api-next"),
    path("assignments/", views.AssignmentListView.as_view(), name="api-assignments"),
    path("assignments/<int:pk>/", views.AssignmentDetailView.as_view(), name="api-assignment"),
    path("assignments/<int:pk>/draft/", views.DraftView.as_view(), name="api-draft"),
    path("assignments/<int:pk>/heartbeat/", views.HeartbeatView.as_view(), name="api-heartbeat"),
    path("assignments/<int:pk>/submit/", views.SubmitView.as_view(), name="api-submit"),
    path("assignments/<int:pk>/skip/", views.SkipView.as_view(), name="api-skip"),
]
