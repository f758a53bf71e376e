"""URL patterns of the API tokens page (included by console/urls.py at /tokens/)."""

from django.urls import path

from console.views import tokens

urlpatterns = [
    path("", tokens.token_list, name="token_list"),
    path("new/", tokens.token_new, name="token_new"),
    path("<int:token_id>/revoke/", tokens.token_revoke_view, name="token_revoke"),
]
