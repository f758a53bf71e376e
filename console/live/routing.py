"""Websocket routes; the live consumers arrive with the console pages."""

websocket_urlpatterns: list = []
