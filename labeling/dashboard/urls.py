from django.urls import path

from labeling.dashboard import campaign_views, creator_views, grader_views, views

app_name = "dashboard"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/", campaign_views.campaign_new, name="new"),
    path("creators/", creator_views.creators, name="creators"),
    path("creators/revoke/", creator_views.creator_revoke, name="creator-revoke"),
    path("<slug:slug>/", views.overview, name="overview"),
    path("<slug:slug>/overview.json", views.overview_json, name="overview-json"),
    path("<slug:slug>/settings/", campaign_views.campaign_settings, name="settings"),
    path("<slug:slug>/settings/status/", campaign_views.campaign_status, name="status"),
    path("<slug:slug>/members/", campaign_views.members, name="members"),
    path("<slug:slug>/members/remove/", campaign_views.member_remove, name="member-remove"),
    path("<slug:slug>/members/<int:user_id>/rate/", campaign_views.member_rate, name="member-rate"),
    path("<slug:slug>/members/<int:user_id>/role/", campaign_views.member_role, name="member-role"),
    path("<slug:slug>/cost/", campaign_views.cost, name="cost"),
    path("<slug:slug>/cost.csv", campaign_views.cost_csv, name="cost-csv"),
    path("<slug:slug>/annotators/", views.annotators, name="annotators"),
    path("<slug:slug>/agreement/refresh/", views.agreement_refresh, name="agreement-refresh"),
    path("<slug:slug>/annotators/<int:user_id>/", views.annotator, name="annotator"),
    path("<slug:slug>/annotators/<int:user_id>/status/", views.annotator_status, name="annotator-status"),
    path("<slug:slug>/adjudication/", views.adjudication, name="adjudication"),
    path("<slug:slug>/adjudication/rescan/", views.adjudication_rescan, name="adjudication-rescan"),
    path("<slug:slug>/grader/", grader_views.grader, name="grader"),
    path("<slug:slug>/grader/scan/", grader_views.grader_scan, name="grader-scan"),
    path("<slug:slug>/grader/<int:solution_id>/", grader_views.grader_resolve, name="grader-resolve"),
    path("<slug:slug>/solutions/<int:solution_id>/", views.review, name="review"),
    path("<slug:slug>/solutions/<int:solution_id>/adopt/", views.version_adopt, name="version-adopt"),
    path("<slug:slug>/data/", views.data, name="data"),
    path("<slug:slug>/data/import/", views.import_create, name="import"),
    path("<slug:slug>/data/export/", views.export_create, name="export"),
    path("<slug:slug>/data/export.jsonl", views.export_stream, name="export-stream"),
    path("<slug:slug>/jobs/<int:job_id>.json", views.job_json, name="job-json"),
    path("<slug:slug>/jobs/<int:job_id>/download/", views.job_download, name="job-download"),
]
