"""URL patterns of the lab pages (included by console/urls.py)."""

urlpatterns: list = []
