"""Share links (being written)."""

urlpatterns: list = []
