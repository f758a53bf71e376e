"""URL patterns of the messages pages (included by console/urls.py under /topics/)."""

from django.urls import path

from console.views import messages

urlpatterns = [
    path("<str:name>/messages/", messages.messages, name="messages"),
    path("<str:name>/tail/", messages.messages_tail, name="messages_tail"),
]
