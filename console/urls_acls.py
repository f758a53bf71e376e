"""URL patterns of the ACLs page (included by console/urls.py at /acls/)."""

from django.urls import path

from console.views import acls

urlpatterns = [
    path("", acls.acl_list, name="acl_list"),
    path("new/", acls.acl_new, name="acl_new"),
    path("remove/", acls.acl_remove, name="acl_remove"),
    path("check/", acls.acl_check, name="acl_check"),
]
