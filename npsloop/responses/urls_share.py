"""Share links: member pages under /inbox/, the public snapshot under /s/<token>/."""

from django.urls import path

from npsloop.responses import share_views

urlpatterns = [
    path("inbox/share/", share_views.share_create, name="share_create"),
    path("inbox/shares/", share_views.share_list, name="share_list"),
    path("inbox/shares/<int:pk>/revoke", share_views.share_revoke, name="share_revoke"),
    path("s/<str:token>/", share_views.share_view, name="share_view"),
]
