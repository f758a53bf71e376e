"""URL patterns of the topics pages (included by console/urls.py)."""

urlpatterns: list = []
