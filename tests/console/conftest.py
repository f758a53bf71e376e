import pytest
from django.contrib.auth.models import User


@pytest.fixture
def staff(db):
    return User.objects.create_user("staff", password="pw-staff-123", is_staff=True)


@pytest.fixture
def viewer(db):
    return User.objects.create_user("viewer", password="pw-viewer-123")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def in_memory_layer(settings):
    """The in-process channel layer, fresh: what a test's websocket consumers and events share."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    from channels.layers import channel_layers

    channel_layers.backends.clear()
