"""URL patterns of the groups pages (included by console/urls.py at /groups/).

Group ids may hold any character, '/' included, so the id is a `path` and the patterns with a
fixed suffix come before the detail page.
"""

from django.urls import path

from console.views import groups

urlpatterns = [
    path("", groups.group_list, name="group_list"),
    path("<path:group_id>/reset-offsets/", groups.group_reset_offsets, name="group_reset_offsets"),
    path("<path:group_id>/delete/", groups.group_delete, name="group_delete"),
    path("<path:group_id>/", groups.group_detail, name="group_detail"),
]
