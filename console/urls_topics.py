"""URL patterns of the topics pages (included by console/urls.py under /topics/).

Any path segment of Kafka's topic characters [a-zA-Z0-9._-] can be a topic name, so nothing but
topics lives directly under /topics/: the create form is at /new-topic/ (`create_urlpatterns`),
a path no topic can shadow and no topic page can be shadowed by.
"""

from django.urls import path

from console.views import topics

create_urlpatterns = [
    path("", topics.topic_create, name="topic_create"),
    path("check/", topics.topic_name_check, name="topic_name_check"),
]

urlpatterns = [
    path("", topics.topic_list, name="topic_list"),
    path("<str:name>/", topics.topic_detail, name="topic_detail"),
    path("<str:name>/configs/", topics.topic_configs, name="topic_configs"),
    path("<str:name>/partitions/", topics.topic_partitions_add, name="topic_partitions_add"),
    path("<str:name>/partitions/preview/", topics.topic_partitions_preview, name="topic_partitions_preview"),
    path("<str:name>/produce/", topics.topic_produce, name="topic_produce"),
    path("<str:name>/delete/", topics.topic_delete, name="topic_delete"),
    path("<str:name>/purge/", topics.topic_purge, name="topic_purge"),
]
