from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from active_learning import urls as al_urls
from annotate import health, metrics
from labeling import views
from labeling.dashboard import campaign_views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("label/<slug:slug>/", views.label, name="label"),
    path("account/", views.account, name="account"),
    path("account/token/", views.account_token, name="account-token"),
    path("invite/<str:token>/", campaign_views.invite, name="invite"),
    path("manage/", include("labeling.dashboard.urls")),
    path("manage/", include((al_urls.dashboard_urls, "active_learning"))),
    path("admin/", admin.site.urls),
    path("api/", include("labeling.api.urls")),
    path("api/", include(al_urls.api_urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file, which our Content-Security-Policy allows.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
]

handler400 = "labeling.api.errors.handler400"
handler403 = "labeling.api.errors.handler403"
handler404 = "labeling.api.errors.handler404"
handler500 = "labeling.api.errors.handler500"
