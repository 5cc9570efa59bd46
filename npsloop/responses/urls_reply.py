"""Reply and forward, included under inbox/."""

from django.urls import path

from npsloop.responses import reply_views

urlpatterns = [
    path("forward/", reply_views.forward_all, name="inbox_forward_all"),
    path("<int:pk>/reply/", reply_views.reply, name="inbox_reply"),
    path("<int:pk>/forward/", reply_views.forward, name="inbox_forward"),
]
