from django.urls import path

from labeling.api import campaigns, manage, views

urlpatterns = [
    path("campaigns/", views.CampaignListView.as_view(), name="api-campaigns"),
    path("campaigns/<slug:slug>/next/", views.NextTaskView.as_view(), name="api-next"),
    path("assignments/", views.AssignmentListView.as_view(), name="api-assignments"),
    path("assignments/<int:pk>/", views.AssignmentDetailView.as_view(), name="api-assignment"),
    path("assignments/<int:pk>/draft/", views.DraftView.as_view(), name="api-draft"),
    path("assignments/<int:pk>/heartbeat/", views.HeartbeatView.as_view(), name="api-heartbeat"),
    path("assignments/<int:pk>/submit/", views.SubmitView.as_view(), name="api-submit"),
    path("assignments/<int:pk>/skip/", views.SkipView.as_view(), name="api-skip"),
    path("assignments/<int:pk>/open/", views.OpenView.as_view(), name="api-open"),
    path("assignments/<int:pk>/release/", views.ReleaseView.as_view(), name="api-release"),
    path("manage/campaigns/", campaigns.CampaignCreateView.as_view(), name="api-manage-campaign-create"),
    path("manage/campaigns/<slug:slug>/", campaigns.CampaignDetailView.as_view(), name="api-manage-campaign"),
    path("manage/campaigns/<slug:slug>/members/", campaigns.MembersView.as_view(), name="api-manage-members"),
    path("manage/campaigns/<slug:slug>/cost/", campaigns.CostView.as_view(), name="api-manage-cost"),
    path("manage/campaigns/<slug:slug>/history/", campaigns.HistoryView.as_view(), name="api-manage-history"),
    path("manage/campaigns/<slug:slug>/error-types/", campaigns.ErrorTypesView.as_view(),
         name="api-manage-error-types"),
    path("manage/campaigns/<slug:slug>/overview/", manage.OverviewView.as_view(), name="api-manage-overview"),
    path("manage/campaigns/<slug:slug>/annotators/", manage.AnnotatorsView.as_view(), name="api-manage-annotators"),
    path("manage/campaigns/<slug:slug>/agreement/", manage.AgreementView.as_view(), name="api-manage-agreement"),
    path("manage/campaigns/<slug:slug>/adjudications/", manage.AdjudicationListView.as_view(),
         name="api-manage-adjudications"),
    path("manage/campaigns/<slug:slug>/adjudications/<int:solution_id>/resolve/",
         manage.AdjudicationResolveView.as_view(), name="api-manage-resolve"),
    path("manage/campaigns/<slug:slug>/gold/<int:solution_id>/", manage.GoldView.as_view(), name="api-manage-gold"),
    path("manage/campaigns/<slug:slug>/members/<int:user_id>/status/", manage.MemberStatusView.as_view(),
         name="api-manage-member-status"),
]
