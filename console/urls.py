from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from console.api import api, not_found
from console.urls_topics import create_urlpatterns as topic_create_urlpatterns
from console.views import brokers, login, overview

# The admin's login form says when a locked-out user may try again, as the console's does.
admin.site.login_form = login.AdminLoginForm

urlpatterns = [
    path("", overview.overview, name="overview"),
    path("brokers/", brokers.broker_list, name="broker_list"),
    path("new-topic/", include(topic_create_urlpatterns)),
    path("topics/", include("console.urls_topics")),
    path("topics/", include("console.urls_messages")),
    path("groups/", include("console.urls_groups")),
    path("lab/", include("console.urls_lab")),
    path("tokens/", include("console.urls_tokens")),
    path("acls/", include("console.urls_acls")),
    path("login/", login.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # Before api.urls: ninja's root view (kept for reverse()) answers an HTML 404.
    path("rest/", not_found, {"rest": ""}),
    path("rest/", api.urls),
    re_path(r"^rest/(?P<rest>.*)$", not_found),
]

# A database outage met outside a view is a 503 too (console/unavailable.py).
handler500 = "console.unavailable.server_error"
