"""Settings for the console and its bundled broker.

Everything comes from the environment. With nothing set, the project runs on a local SQLite file
and the in-memory channel layer, so `make run` needs no other service.
"""

import os
import secrets
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state (the SQLite file, the generated secret key) lives here and is never committed.
STATE_DIR = Path(os.environ.get("STATE_DIR", BASE_DIR / "var"))


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


# PRODUCTION=1: served to real users over HTTPS. Secrets must then come from the environment, and
# the secure settings below are switched on (see "Production" in the README).
PRODUCTION = _env_bool("PRODUCTION")


def _secret_key() -> str:
    """SECRET_KEY from the environment, else (not in production) one generated once and kept in
    STATE_DIR, so sessions survive restarts of a development server."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    if PRODUCTION:
        raise ImproperlyConfigured(
            "PRODUCTION=1 needs SECRET_KEY in the environment (at least 50 random characters, e.g. from "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`); it is never generated or read from a file."
        )
    path = STATE_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        # O_EXCL: two processes starting at once must agree on one key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DEBUG")
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "template_partials",
    # REST proxy (console.api): OpenAPI and its docs page, with Swagger UI from ninja's static files.
    "ninja",
    "brokercore",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "console.csp.ContentSecurityPolicyMiddleware",
    # NUL in a path or query value is refused before anything looks it up (PostgreSQL cannot).
    "console.request_checks.NulRefusalMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A view that meets a database outage answers 503 instead of a 500 with a traceback.
    "console.unavailable.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "console.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            # {% partialdef %} in every template, without a {% load %} in each.
            "builtins": ["template_partials.templatetags.partials"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
ASGI_APPLICATION = "console.asgi.application"
# Threads per server process that run requests' sync code (views, middleware, database): each
# keeps its database connection between requests. A REST consumer's long poll holds one while
# it waits, so this also bounds concurrent long polls (console/asgi_http.py).
WEB_THREADS = _env_int("WEB_THREADS", 32)
WSGI_APPLICATION = None

# --- Database -------------------------------------------------------------------------------
# DATABASE_URL selects the backend: postgres://user@host:5432/name for real use, or the default
# SQLite file for the embedded mode.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{STATE_DIR / 'broker.sqlite3'}",
        conn_max_age=_env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and _env_bool("DB_POOL"):
    # Opt-in: a psycopg pool shared by a process's threads. The server does not need it (its
    # request threads are a fixed pool, each keeping its connection: console/asgi_http.py); it
    # helps where many short-lived threads touch the database. Not for commands that fork:
    # a pool's open sockets must not be inherited by forked processes.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "pool": {"min_size": 2, "max_size": _env_int("DB_POOL_MAX_SIZE", 20), "timeout": 10},
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A request, Kafka worker or maintenance job waits at most this long for an unreachable
    # server, then answers a retriable error (console/unavailable.py), instead of hanging.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = _env_int("DB_CONNECT_TIMEOUT_S", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock at BEGIN, so two writers queue on the busy timeout
        # instead of failing with "database is locked" when a read lock is upgraded.
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        # temp_store: the append's UPDATE ... FROM (VALUES ...) builds a temporary table; Debian's
        # SQLite puts those in files (TEMP_STORE=1), which cost an open, unlink and close per
        # append (a 32-record write 350 -> 218 us at the median). journal_size_limit: the WAL
        # file keeps the size of its largest burst (a checkpoint held off by long reads) until the
        # last connection closes, which for a server is never; SQLite truncates it to this after
        # each checkpoint that restarts it, so disk use follows retention, not the worst moment.
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; "
            f"PRAGMA journal_size_limit={64 * 2**20};"
        ),
    }

# A test run's database is named after its process, so two runs on one machine (a developer's and
# CI's, or two engineers') never drop each other's. A file, not :memory:, because the tests start
# child processes that must share it.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(tempfile.gettempdir(), f"kconsole-test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels -------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": os.environ.get("REDIS_PREFIX", "kconsole")},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Broker limits --------------------------------------------------------------------------
BROKER = {
    # Largest partition count a topic may have (create or grow).
    "MAX_PARTITIONS": _env_int("BROKER_MAX_PARTITIONS", 1000),
    # Largest number of records one append call may carry.
    "MAX_BATCH_RECORDS": _env_int("BROKER_MAX_BATCH_RECORDS", 100_000),
    # Group commit: appends to one topic from concurrent threads of this process share one
    # transaction (brokercore/log/group_commit.py). Off: one commit per append. The leader
    # waits up to LINGER_US for more callers only when the previous group held several (a lone
    # producer never waits), and takes at most MAX_RECORDS records into one transaction.
    "GROUP_COMMIT": _env_bool("BROKER_GROUP_COMMIT", True),
    "GROUP_COMMIT_LINGER_US": _env_int("BROKER_GROUP_COMMIT_LINGER_US", 1000),
    "GROUP_COMMIT_MAX_RECORDS": _env_int("BROKER_GROUP_COMMIT_MAX_RECORDS", 1000),
    # Broker-level default for the max.message.bytes topic config (Kafka's message.max.bytes).
    "MESSAGE_MAX_BYTES": _env_int("BROKER_MESSAGE_MAX_BYTES", 1048588),
    # This process's broker node id (Kafka's node.id).
    "NODE_ID": _env_int("BROKER_NODE_ID", 1),
    # A broker node heartbeats this often; one silent for NODE_SESSION_TIMEOUT_S is dead and its
    # partitions get other leaders (a clean stop hands them over at once).
    "NODE_HEARTBEAT_INTERVAL_S": _env_int("BROKER_NODE_HEARTBEAT_INTERVAL_S", 2),
    "NODE_SESSION_TIMEOUT_S": _env_int("BROKER_NODE_SESSION_TIMEOUT_S", 6),
    # How often the in-server log cleaner runs retention, compaction and physical deletes.
    "LOG_CLEANER_INTERVAL_S": _env_int("BROKER_LOG_CLEANER_INTERVAL_S", 30),
    # A waiting fetch re-reads the watermark at least this often, to see appends made by other
    # processes (same-process appends wake it at once).
    "FETCH_POLL_INTERVAL_MS": _env_int("BROKER_FETCH_POLL_INTERVAL_MS", 100),
    # Rows a physical delete removes per transaction, so deleting a large topic never holds
    # long locks.
    "DELETE_CHUNK_ROWS": _env_int("BROKER_DELETE_CHUNK_ROWS", 20_000),
    # Kafka's group.min.session.timeout.ms / group.max.session.timeout.ms.
    "GROUP_MIN_SESSION_TIMEOUT_MS": _env_int("BROKER_GROUP_MIN_SESSION_TIMEOUT_MS", 6000),
    "GROUP_MAX_SESSION_TIMEOUT_MS": _env_int("BROKER_GROUP_MAX_SESSION_TIMEOUT_MS", 1_800_000),
    # Kafka's offset.metadata.max.bytes.
    "OFFSET_METADATA_MAX_BYTES": _env_int("BROKER_OFFSET_METADATA_MAX_BYTES", 4096),
    # Kafka's offsets.topic.num.partitions: __consumer_offsets' partitions, fixed when the first
    # commit creates it (a group's records go to one of them by its id's hash).
    "OFFSETS_TOPIC_PARTITIONS": _env_int("BROKER_OFFSETS_TOPIC_PARTITIONS", 50),
    # How often the server expires silent members and finishes timed-out rebalances.
    "GROUP_SWEEP_INTERVAL_S": _env_int("BROKER_GROUP_SWEEP_INTERVAL_S", 1),
    # Rebalance history and lag samples kept per group (both bounded).
    "REBALANCE_HISTORY_PER_GROUP": _env_int("BROKER_REBALANCE_HISTORY_PER_GROUP", 200),
    "LAG_SAMPLE_INTERVAL_S": _env_int("BROKER_LAG_SAMPLE_INTERVAL_S", 10),
    "LAG_SAMPLES_PER_GROUP": _env_int("BROKER_LAG_SAMPLES_PER_GROUP", 360),
    # The Kafka protocol listener (`serve` starts it beside the console; `manage.py kafka` alone).
    "KAFKA_HOST": os.environ.get("BROKER_KAFKA_HOST", "127.0.0.1"),
    "KAFKA_PORT": _env_int("BROKER_KAFKA_PORT", 9092),
    # What Metadata tells clients to connect to (Kafka's advertised.listeners); empty: the bind
    # host, or this machine's name when binding every interface.
    "KAFKA_ADVERTISED_HOST": os.environ.get("BROKER_KAFKA_ADVERTISED_HOST", ""),
    "KAFKA_ADVERTISED_PORT": _env_int("BROKER_KAFKA_ADVERTISED_PORT", 0),
    "KAFKA_RACK": os.environ.get("BROKER_KAFKA_RACK", ""),
    # Kafka's socket.request.max.bytes: a larger request frame closes its connection.
    "KAFKA_MAX_REQUEST_BYTES": _env_int("BROKER_KAFKA_MAX_REQUEST_BYTES", 100 * 1024 * 1024),
    # Kafka's connections.max.idle.ms: a connection that sends no request this long is closed.
    "KAFKA_CONNECTIONS_MAX_IDLE_MS": _env_int("BROKER_KAFKA_CONNECTIONS_MAX_IDLE_MS", 600_000),
    # A connection that has not authenticated, or has begun a request frame, is closed when it
    # sends nothing for this long (a partial frame would otherwise hold it until the idle timeout).
    "KAFKA_REQUEST_STALL_TIMEOUT_MS": _env_int("BROKER_KAFKA_REQUEST_STALL_TIMEOUT_MS", 10_000),
    # Kafka's max.connections.per.ip: more from one address are closed as they come (0: no limit;
    # Kafka's default is none, which lets one address exhaust the server's sockets).
    "KAFKA_MAX_CONNECTIONS_PER_IP": _env_int("BROKER_KAFKA_MAX_CONNECTIONS_PER_IP", 1000),
    # Threads that run the listener's database work (a long-polling fetch holds none).
    "KAFKA_WORKER_THREADS": _env_int("BROKER_KAFKA_WORKER_THREADS", 16),
    # Plain Produce requests (not idempotent or transactional) of one connection read ahead and
    # handled at once, so that they share group commits; answered in order, appended in request
    # order. The frames in flight also stay within KAFKA_MAX_REQUEST_BYTES together. 1: one
    # request at a time, every request.
    "KAFKA_MAX_INFLIGHT_PER_CONNECTION": _env_int("BROKER_KAFKA_MAX_INFLIGHT_PER_CONNECTION", 16),
    # Let Kafka clients in without SASL authentication (local demos only; they still cannot create
    # or delete topics). Off, a connection authenticates with SASL/PLAIN (a console user's name and
    # password or API token) before it may send anything but ApiVersions.
    "KAFKA_ALLOW_ANONYMOUS": _env_bool("BROKER_KAFKA_ALLOW_ANONYMOUS", False),
    # TLS on the Kafka listener (security.protocol SASL_SSL): a PEM certificate chain and its
    # private key (the key may be in the certificate file). Without them the listener speaks
    # plain TCP (SASL_PLAINTEXT), and passwords and tokens cross the network in clear text.
    "KAFKA_TLS_CERT": os.environ.get("BROKER_KAFKA_TLS_CERT", ""),
    "KAFKA_TLS_KEY": os.environ.get("BROKER_KAFKA_TLS_KEY", ""),
    # What checks a SASL/PLAIN username and password: f(username, password, *, client_host=None)
    # -> None or (active user, a cheap re-check the listener runs on a connection every few
    # seconds); client_host counts failures per address too. A dotted path
    # because the rule (tokens or passwords, as REST basic auth) lives in the console, which
    # depends on brokercore, not the other way round.
    "KAFKA_SASL_PLAIN_CHECK": "console.api.tokens.credentials_session",
    # What the authorizer (brokercore/security/acl.py) decides for a resource no ACL names (Kafka's
    # allow.everyone.if.no.acl.found). "read-write" (default, as before ACLs existed): every
    # authenticated user may read, write and describe it; creating, deleting and altering need
    # staff. "allow": everything (allow.everyone.if.no.acl.found=true). "deny": nothing but staff
    # (Kafka's default). Staff users are always allowed (Kafka's super.users).
    "ACL_NO_MATCH": os.environ.get("BROKER_ACL_NO_MATCH", "read-write"),
    # Kafka's auto.create.topics.enable and num.partitions / default.replication.factor for
    # topics created by Metadata requests (and CreateTopics with -1).
    "AUTO_CREATE_TOPICS": _env_bool("BROKER_AUTO_CREATE_TOPICS", True),
    "DEFAULT_PARTITIONS": _env_int("BROKER_DEFAULT_PARTITIONS", 1),
    "DEFAULT_REPLICATION_FACTOR": _env_int("BROKER_DEFAULT_REPLICATION_FACTOR", 1),
    # Kafka's producer.id.expiration.ms: an idempotent producer silent this long is forgotten.
    "PRODUCER_ID_EXPIRATION_MS": _env_int("BROKER_PRODUCER_ID_EXPIRATION_MS", 86_400_000),
}
if BROKER["ACL_NO_MATCH"] not in ("read-write", "allow", "deny"):
    raise ImproperlyConfigured(
        f"BROKER_ACL_NO_MATCH={BROKER['ACL_NO_MATCH']!r}: expected read-write, allow or deny"
    )
if BROKER["KAFKA_TLS_KEY"] and not BROKER["KAFKA_TLS_CERT"]:
    raise ImproperlyConfigured("BROKER_KAFKA_TLS_KEY is set without BROKER_KAFKA_TLS_CERT: give the certificate too.")

# --- Auth, static, i18n ---------------------------------------------------------------------
# The test suite (tests/conftest.py, and every server it starts, which inherits the environment):
# Django's PBKDF2 costs ~0.2 s a password by design, and the suite creates and checks hundreds.
if _env_bool("TEST_FAST_PASSWORD_HASHER", False):
    if PRODUCTION:
        raise ImproperlyConfigured("TEST_FAST_PASSWORD_HASHER is for the test suite only, never with PRODUCTION=1.")
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Passwords are checked with failed logins throttled (console/login_limit.py): this many failures
# of one username, or from one address, within COOLOFF_S lock it out for COOLOFF_S (0: no limit).
AUTHENTICATION_BACKENDS = ["console.login_limit.LoginLimitBackend"]
# Wrong API tokens are counted per address apart from passwords: they lock out wrong tokens only.
LOGIN_LIMIT = {
    "FAILURES_PER_USERNAME": _env_int("LOGIN_FAILURES_PER_USERNAME", 5),
    "FAILURES_PER_IP": _env_int("LOGIN_FAILURES_PER_IP", 20),
    "TOKEN_FAILURES_PER_IP": _env_int("LOGIN_TOKEN_FAILURES_PER_IP", 20),
    "COOLOFF_S": _env_int("LOGIN_COOLOFF_S", 300),
}


def _networks(name: str) -> list:
    import ipaddress

    try:
        return [ipaddress.ip_network(n.strip(), strict=False) for n in os.environ.get(name, "").split(",") if n.strip()]
    except ValueError as e:
        raise ImproperlyConfigured(f"{name}: {e} (give addresses or networks, comma-separated)") from None


# Reverse proxies whose X-Forwarded-For is believed for the client's address (login throttling):
# addresses or networks, comma-separated. Only those that set or append to the header themselves.
TRUSTED_PROXIES = _networks("TRUSTED_PROXIES")
# The REST proxy (console.api, under /rest/), Confluent REST Proxy v2/v3 shapes.
REST = {
    # Let requests without a token or session in (local demos only); they still cannot create or
    # delete topics.
    "ALLOW_ANONYMOUS": _env_bool("REST_ALLOW_ANONYMOUS", False),
    # Largest request body, and most records one produce request may carry.
    "MAX_BODY_BYTES": _env_int("REST_MAX_BODY_BYTES", 16 * 1024 * 1024),
    "MAX_RECORDS_PER_REQUEST": _env_int("REST_MAX_RECORDS_PER_REQUEST", 10_000),
    # Confluent's consumer.instance.timeout.ms: an instance idle this long is deleted.
    "CONSUMER_INSTANCE_TIMEOUT_MS": _env_int("REST_CONSUMER_INSTANCE_TIMEOUT_MS", 300_000),
    # Confluent's consumer.request.timeout.ms and consumer.request.max.bytes: the longest a
    # records request waits, and the most it returns, unless the request asks for less.
    "CONSUMER_REQUEST_TIMEOUT_MS": _env_int("REST_CONSUMER_REQUEST_TIMEOUT_MS", 1_000),
    "CONSUMER_REQUEST_MAX_BYTES": _env_int("REST_CONSUMER_REQUEST_MAX_BYTES", 64 * 1024 * 1024),
}

# --- Production (PRODUCTION=1) ----------------------------------------------------------------
# `manage.py check --deploy --fail-level WARNING` passes with these (tests/console/test_security.py).
if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("PRODUCTION=1 and DEBUG=1 cannot go together: DEBUG shows tracebacks and settings to anyone.")
    if REST["ALLOW_ANONYMOUS"]:
        raise ImproperlyConfigured("PRODUCTION=1 refuses REST_ALLOW_ANONYMOUS=1: REST callers must authenticate in production.")
    if BROKER["KAFKA_ALLOW_ANONYMOUS"]:
        raise ImproperlyConfigured(
            "PRODUCTION=1 refuses BROKER_KAFKA_ALLOW_ANONYMOUS=1: Kafka clients must authenticate (SASL/PLAIN) in production."
        )
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # Behind a proxy or load balancer that terminates TLS, name the header it sets (e.g.
    # SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto) so Django knows the request came over HTTPS. Only
    # when the proxy always sets or strips it: otherwise a client could claim HTTPS itself.
    if proxy_header := os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip():
        SECURE_PROXY_SSL_HEADER = ("HTTP_" + proxy_header.upper().replace("-", "_"), "https")
    # Off only where something in front already redirects http:// to https://.
    SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = _env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", True)

# Django refuses larger bodies before any view reads them; the REST limit is the larger of the two.
DATA_UPLOAD_MAX_MEMORY_SIZE = REST["MAX_BODY_BYTES"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = STATE_DIR / "staticfiles"
# The server process serves /static/ itself (set SERVE_STATIC=0 behind a web server that does).
SERVE_STATIC = _env_bool("SERVE_STATIC", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
