from django.urls import path

from npsloop.api.docs import docs_asset
from npsloop.api.main import api

urlpatterns = [
    path("docs/assets/<str:name>", docs_asset, name="api_docs_asset"),
    path("", api.urls),
]
