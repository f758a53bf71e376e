"""URL patterns of the messages pages (included by console/urls.py)."""

urlpatterns: list = []
