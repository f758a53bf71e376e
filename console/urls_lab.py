"""URL patterns of the lab (included by console/urls.py at /lab/)."""

from django.urls import path

from console.views import lab

urlpatterns = [
    path("", lab.lab, name="lab"),
    path("new/", lab.lab_create, name="lab_create"),
    path("presets/<slug:slug>/", lab.lab_preset, name="lab_preset"),
    path("<int:lab_id>/", lab.lab_detail, name="lab_detail"),
    path("<int:lab_id>/consumers/", lab.lab_consumer_add, name="lab_consumer_add"),
    path("<int:lab_id>/consumers/<str:name>/stop/", lab.lab_consumer_stop, name="lab_consumer_stop"),
    path("<int:lab_id>/consumers/<str:name>/crash/", lab.lab_consumer_crash, name="lab_consumer_crash"),
    path("<int:lab_id>/partitions/", lab.lab_partitions_add, name="lab_partitions_add"),
    path("<int:lab_id>/producer/", lab.lab_producer_start, name="lab_producer_start"),
    path("<int:lab_id>/producer/stop/", lab.lab_producer_stop, name="lab_producer_stop"),
    path("<int:lab_id>/assignor/", lab.lab_assignor_set, name="lab_assignor_set"),
    path("<int:lab_id>/stop/", lab.lab_stop, name="lab_stop"),
]
