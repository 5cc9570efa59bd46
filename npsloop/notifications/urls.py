from django.urls import path

from npsloop.notifications import views

urlpatterns = [
    path("", views.overview, name="notifications"),
    path("channels/new/<str:kind>/", views.channel_create, name="notification_channel_create"),
    path("channels/<int:pk>/", views.channel_detail, name="notification_channel"),
    path("channels/<int:pk>/act", views.channel_act, name="notification_channel_act"),
    path("deliveries/<int:pk>/resend", views.delivery_resend, name="notification_resend"),
    path("rules/new/", views.rule_edit, name="notification_rule_create"),
    path("rules/<int:pk>/", views.rule_edit, name="notification_rule"),
    path("rules/<int:pk>/delete", views.rule_delete, name="notification_rule_delete"),
    path("tickets/<int:pk>/", views.response_ticket, name="notification_response_ticket"),
]
