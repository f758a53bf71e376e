"""URL patterns of the API tokens page, with its SCRAM credentials section (included by
console/urls.py at /tokens/)."""

from django.urls import path

from console.views import scram, tokens

urlpatterns = [
    path("", tokens.token_list, name="token_list"),
    path("new/", tokens.token_new, name="token_new"),
    path("<int:token_id>/revoke/", tokens.token_revoke_view, name="token_revoke"),
    path("scram/", scram.scram_set, name="scram_set"),
    path("scram/delete/", scram.scram_delete, name="scram_delete"),
]
