"""Content negotiation for the REST proxy's media types (weighted Accept, embedded formats)."""

from django.http import HttpRequest

from console.api.errors import NOT_ACCEPTABLE, UNSUPPORTED_MEDIA_TYPE, RestError

JSON = "application/json"
V2 = "application/vnd.kafka.v2+json"
V2_JSON = "application/vnd.kafka.json.v2+json"
V2_BINARY = "application/vnd.kafka.binary.v2+json"
# v2 embedded formats: the request Content-Type of a produce, the Accept of a records fetch.
FORMAT_MEDIA_TYPES = {"json": V2_JSON, "binary": V2_BINARY}


def accept_parse(header: str | None) -> list[str]:
    """Media ranges of an Accept header, best first (by q, then as written); q=0 ones dropped."""
    if not header or not header.strip():
        return ["*/*"]
    ranges = []
    for n, part in enumerate(header.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if not media:
            continue
        q = 1.0
        for f in fields[1:]:
            name, _, value = f.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            ranges.append((-q, n, media))
    return [media for _, _, media in sorted(ranges)]


def _matches(media_range: str, offered: str) -> bool:
    if media_range in ("*/*", "*"):
        return True
    if media_range.endswith("/*"):
        return offered.startswith(media_range[:-1])
    return media_range == offered


def negotiate(request: HttpRequest, offered: list[str]) -> str:
    """The first of `offered` the client's Accept allows, in the client's order of preference."""
    for media_range in accept_parse(request.headers.get("Accept")):
        for media in offered:
            if _matches(media_range, media):
                return media
    raise RestError(
        NOT_ACCEPTABLE,
        f"Cannot answer in any of the accepted types ({request.headers.get('Accept')}); "
        f"this endpoint answers {', '.join(offered)}.",
    )


def content_type(request: HttpRequest) -> str:
    return (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()


def v2_produce_format(request: HttpRequest) -> str:
    """'json' or 'binary', from a v2 produce request's Content-Type."""
    ct = content_type(request)
    if ct in (V2_JSON, JSON, "application/vnd.kafka.v2+json", "application/vnd.kafka+json"):
        return "json"
    if ct == V2_BINARY:
        return "binary"
    raise RestError(
        UNSUPPORTED_MEDIA_TYPE,
        f"Content-Type '{ct or '(none)'}' is not supported: use {V2_JSON} or {V2_BINARY} "
        "(Avro, Protobuf and JSON Schema need a schema registry, which this broker does not have).",
    )
