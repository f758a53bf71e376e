"""URL patterns of the groups pages (included by console/urls.py)."""

urlpatterns: list = []
