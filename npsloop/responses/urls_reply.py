"""Reply and forward (being written)."""

urlpatterns: list = []
