from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from npsloop.accounts import views as accounts
from npsloop.api import views as api_views
from npsloop.contacts import views as contacts
from npsloop.ingest import tab_views as segment_tab
from npsloop.ingest import views as ingest
from npsloop.insights import views as insights
from npsloop.invitations import contact_views
from npsloop.invitations import views as invitations
from npsloop.mail import views as mail
from npsloop.ops import health
from npsloop.ops import metrics as ops_metrics
from npsloop.responses import inbox_views, survey_views
from npsloop.surveys import views as surveys

public = [
    path("r/<str:token>/", survey_views.rate, name="rate"),
    path("r/<str:token>/record", survey_views.rate_record, name="rate_record"),
    path("r/<str:token>/thanks", survey_views.rate_thanks, name="rate_thanks"),
    path("u/<str:token>/", invitations.unsubscribe, name="unsubscribe"),
]

segment = [
    path("segment/v1/<str:kind>", ingest.tracking_api, name="segment_v1"),
    path("segment/webhook", ingest.webhook, name="segment_webhook"),
]

account = [
    path("signup/", accounts.signup, name="signup"),
    path("login/", accounts.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", accounts.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("no-organization/", accounts.no_organization, name="no_organization"),
    path("settings/", accounts.member_settings, name="member_settings"),
    path("settings/tokens/", accounts.token_list, name="token_list"),
    path("settings/tokens/<int:pk>/revoke", accounts.token_revoke, name="token_revoke"),
]

dashboard = [
    path("", insights.home, name="home"),
    path("dashboard/", insights.dashboard, name="dashboard"),
    path("dashboard/export.csv", insights.export_csv, name="dashboard_export"),
    path("dashboard/digest", insights.digest_toggle, name="digest_toggle"),
    path("surveys/", surveys.survey_list, name="survey_list"),
    path("surveys/new/", surveys.survey_create, name="survey_create"),
    path("surveys/<int:pk>/", insights.survey_detail, name="survey_detail"),
    path("surveys/<int:pk>/edit/", surveys.survey_edit, name="survey_edit"),
    path("surveys/<int:pk>/segment/", segment_tab.segment_tab, name="survey_segment"),
    path("surveys/<int:pk>/status/<str:status>", surveys.survey_status, name="survey_status"),
    path("surveys/<int:pk>/rotate-key", surveys.survey_rotate_key, name="survey_rotate_key"),
    path("contacts/", contacts.contact_list, name="contact_list"),
    path("contacts/new/", contacts.contact_create, name="contact_create"),
    path("contacts/import/", contact_views.contact_import, name="contact_import"),
    path("contacts/<int:pk>/", contact_views.contact_detail, name="contact_detail"),
    path("inbox/", inbox_views.inbox, name="inbox"),
    path("inbox/<int:pk>/", inbox_views.inbox_detail, name="inbox_detail"),
    path("inbox/<int:pk>/act", inbox_views.inbox_act, name="inbox_act"),
    path("inbox/bulk", inbox_views.inbox_bulk, name="inbox_bulk"),
    path("inbox/export", api_views.inbox_export, name="inbox_export"),
    path("inbox/saved/", inbox_views.saved_filter_create, name="saved_filter_create"),
    path(
        "inbox/saved/<int:pk>/delete", inbox_views.saved_filter_delete, name="saved_filter_delete"
    ),
    path("inbox/", include("npsloop.responses.urls_reply")),
    path("", include("npsloop.responses.urls_share")),
    path("outbox/", mail.outbox, name="outbox"),
    path("outbox/<int:pk>/", mail.outbox_detail, name="outbox_detail"),
    path("outbox/<int:pk>/html", mail.outbox_html, name="outbox_html"),
]

urlpatterns = [
    *public,
    *segment,
    *account,
    *dashboard,
    path("notifications/", include("npsloop.notifications.urls")),
    path("api/v1/", include("npsloop.api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # Served by npsloop.ops.middleware.OpsEndpointsMiddleware before the rest of the
    # stack; named here so that reverse() knows them.
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", ops_metrics.metrics_view, name="metrics"),
]
