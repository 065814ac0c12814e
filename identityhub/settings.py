"""IdentityHub settings: everything comes from the environment (see .env.example).

With nothing set the app runs on SQLite with a Celery broker on the local filesystem, so
`make run` works on a bare machine; DATABASE_URL and REDIS_URL switch to PostgreSQL and Redis.
"""

import uuid
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

# FileAwareEnv also reads NAME_FILE (Docker secrets) for every variable.
env = environ.FileAwareEnv()
environ.FileAwareEnv.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (see .env.example).")
    SECRET_KEY = "insecure-development-key-only-for-debug"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Bind passwords and Graph client secrets are encrypted with these Fernet keys (comma-separated;
# the first encrypts, all decrypt, so keys can be rotated).
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[])
if not FIELD_ENCRYPTION_KEY and not DEBUG:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY must be set when DEBUG is off (see .env.example).")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "django_tables2",
    "django_filters",
    "identityhub.tenants",
    "identityhub.accounts",
    "identityhub.scans",
    "identityhub.remediation",
    "identityhub.health",
    "identityhub.rollout",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served as our own static files
    "identityhub.reports",
    "identityhub.demo",  # the demo tenant of `make run` (bootstrap_demo); nothing imports it
    "axes",  # login throttling (after the apps: its lockout template is ours)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "identityhub.accounts.middleware.EntraSessionAgeMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lockout page
]

ROOT_URLCONF = "identityhub.urls"
WSGI_APPLICATION = "identityhub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'identityhub.sqlite3'}"),
}
# Persistent connections: a new PostgreSQL connection per request costs a process fork on the
# server (several ms) and, under load, a connection storm. Checked before reuse, so a restarted
# database server costs one failed check, not an error page.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The worker and the web process write at once: wait for the lock instead of failing. WAL lets
    # pages read while a scan writes; a 64 MB page cache keeps a large scan's indexes in memory.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-16384;",
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT: PostgreSQL compiles a plan whose estimated cost is high (a streamed export of half a
    # million findings) before its first row, a pause per request that only pays off in long
    # analytic queries, which a web request and a scan's statements are not (issue 18).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "identityhub.cache.RedisCache", "LOCATION": REDIS_URL}}
    # Every signed-in request reads its session: from the shared cache, the database only on a miss
    # (a flushed Redis signs nobody out). Not with LocMemCache: each process would keep its own copy,
    # and a session ended in one worker would live on in another.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: Redis when configured, otherwise kombu's filesystem transport (no server needed).
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {}
    if REDIS_URL
    else {
        "data_folder_in": str(VAR_DIR / "broker"),
        "data_folder_out": str(VAR_DIR / "broker"),
        "processed_folder": str(VAR_DIR / "broker-done"),
        # kombu's default is ./control, in the working directory (the repository under `make run`).
        "control_folder": str(VAR_DIR / "broker-control"),
        "store_processed": False,
    }
)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Every task is bounded in time. At the soft limit Celery raises SoftTimeLimitExceeded inside the task, whose
# job row then records the failure ("stopped after its time limit"); the hard limit, TIME_LIMIT_GRACE seconds
# later, kills a worker process that did not stop. Seconds; the long jobs have their own (annotations).
TASK_SOFT_TIME_LIMIT = env.int("TASK_SOFT_TIME_LIMIT", default=10 * 60)
SCAN_SOFT_TIME_LIMIT = env.int("SCAN_SOFT_TIME_LIMIT", default=6 * 3600)  # a forest of millions of objects
EXPORT_SOFT_TIME_LIMIT = env.int("EXPORT_SOFT_TIME_LIMIT", default=30 * 60)  # evidence pack, workbook
BULK_SOFT_TIME_LIMIT = env.int("BULK_SOFT_TIME_LIMIT", default=2 * 3600)  # up to 5,000 guarded LDAP writes
HEALTH_SOFT_TIME_LIMIT = env.int("HEALTH_SOFT_TIME_LIMIT", default=30 * 60)  # paged Graph reads with back-off
WEBHOOK_SOFT_TIME_LIMIT = 60  # one delivery attempt: 3 s connect + 5 s read (rollout/webhooks.py)
TIME_LIMIT_GRACE = 60
CELERY_TASK_SOFT_TIME_LIMIT = TASK_SOFT_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = TASK_SOFT_TIME_LIMIT + TIME_LIMIT_GRACE
CELERY_TASK_ANNOTATIONS = {
    task: {"soft_time_limit": soft, "time_limit": soft + TIME_LIMIT_GRACE}
    for task, soft in (
        ("identityhub.scans.tasks.scan_forest", SCAN_SOFT_TIME_LIMIT),
        ("identityhub.reports.tasks.run_export", EXPORT_SOFT_TIME_LIMIT),
        ("identityhub.remediation.bulk.apply_run_task", BULK_SOFT_TIME_LIMIT),
        ("identityhub.health.tasks.pull_tenant_health", HEALTH_SOFT_TIME_LIMIT),
        ("identityhub.rollout.tasks.deliver_webhook", WEBHOOK_SOFT_TIME_LIMIT),
    )
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "dispatch-due-scans": {"task": "identityhub.scans.tasks.dispatch_due_scans", "schedule": 300.0},
    "pull-all-health": {"task": "identityhub.health.tasks.pull_all_health", "schedule": 1800.0},
    "rollout-recompute-all": {"task": "identityhub.rollout.tasks.recompute_all", "schedule": 600.0},
    # Daily, just after midnight: exceptions expire by date.
    "reopen-expired-waivers": {
        "task": "identityhub.remediation.tasks.reopen_expired_waivers",
        "schedule": crontab(hour=0, minute=5),
    },
    # A write whose answer was lost is settled by reading AD back (each also retries with back-off).
    "confirm-unknown-changes": {"task": "identityhub.remediation.tasks.confirm_unknown_changes", "schedule": 300.0},
    "confirm-unknown-test-groups": {"task": "identityhub.rollout.tasks.confirm_unknown_test_groups", "schedule": 300.0},
    "resume-stalled-bulk-runs": {"task": "identityhub.remediation.bulk.resume_stalled_runs", "schedule": 120.0},
    # The demo's story, its sync health first, is dated from now again (demo/tasks.py), well within
    # the 40-minute threshold: its newest point says a sync 24 minutes old; a no-op without the demo tenant.
    "demo-health-current": {"task": "identityhub.demo.tasks.keep_demo_current", "schedule": 300.0},
    "remove-expired-exports": {
        "task": "identityhub.reports.tasks.remove_expired_exports",
        "schedule": crontab(hour=0, minute=20),
    },
}
# A scan that would drop more than this share of its forest's objects (0.1 = 10 %; an empty scan of
# a forest that had objects, always) waits for an admin's confirmation before it becomes the
# forest's picture, like Entra Connect's accidental-deletion threshold.
SCAN_CONFIRM_DROP_SHARE = env.float("SCAN_CONFIRM_DROP_SHARE", default=0.10)
# Seconds an LDAP write (connect, bind, modify, read-back) may wait for a DC before its outcome
# counts as unknown and is settled by reading the object back.
LDAP_TIMEOUT = env.int("LDAP_TIMEOUT", default=10)
# Seconds without a heartbeat after which a bulk run's worker counts as gone and another takes over.
BULK_STALE_SECONDS = env.int("BULK_STALE_SECONDS", default=180)
# Days an export's files (evidence packs, workbooks) are kept; the job row stays as the record.
EXPORT_RETENTION_DAYS = env.int("EXPORT_RETENTION_DAYS", default=30)
# A findings XLSX of more rows is prepared by the background export job, never built in a request
# (half a million rows take minutes; a web worker is killed after 30 s).
EXPORT_XLSX_IN_REQUEST_MAX_ROWS = env.int("EXPORT_XLSX_IN_REQUEST_MAX_ROWS", default=5000)

# Microsoft Graph (health pulls): a sovereign cloud, or a stand-in in tests, points these elsewhere.
GRAPH_AUTHORITY_HOST = env.str("GRAPH_AUTHORITY_HOST", default="login.microsoftonline.com")
GRAPH_BASE_URL = env.str("GRAPH_BASE_URL", default="https://graph.microsoft.com/v1.0")
GRAPH_CA_BUNDLE = env.str("GRAPH_CA_BUNDLE", default="")  # extra CA certificates to trust (PEM file)
GRAPH_MAX_RETRIES = env.int("GRAPH_MAX_RETRIES", default=4)  # per request, on 429 / 5xx / unreachable

# Where users reach IdentityHub (https://idhub.example.com): links in webhook messages.
SITE_URL = env.str("SITE_URL", default="")
# Webhooks reach public internet addresses only (no metadata service, no intranet: SSRF). On for a
# receiver inside the network, or behind an egress proxy that does the filtering.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=False)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Password login and Entra sign-in, plain backends behind axes' login throttling.
# Password guessing: after AXES_FAILURE_LIMIT wrong passwords for one username from one client address, that
# pair is locked out (even with the right password) for AXES_COOLOFF_TIME, and every failure meanwhile starts
# the cool-off again. Per pair, not per username alone, so nobody can lock a colleague out from elsewhere.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login before a password is checked
    "identityhub.accounts.backends.LocalPasswordBackend",
    "identityhub.accounts.backends.EntraBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_SENSITIVE_PARAMETERS = ["password"]
AXES_VERBOSE = False  # no banner on every manage.py command
# The client address of a login attempt (and of the API's per-address rates): REMOTE_ADDR, or behind
# TRUSTED_PROXY_COUNT reverse proxies the address the outermost one saw, from X-Forwarded-For
# (identityhub/client_address.py). axes' AXES_IPWARE_* settings would need django-ipware, not installed.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT is the number of reverse proxies in front of the app: 0 or more.")
AXES_CLIENT_IP_CALLABLE = "identityhub.client_address.client_address"

# Local (password) accounts: on by default; false leaves them to superusers only (break-glass).
LOCAL_LOGIN = env.bool("LOCAL_LOGIN", default=True)

# Sign in with Microsoft Entra ID (README "Sign in with Microsoft"): on when ENTRA_CLIENT_ID is set.
ENTRA_CLIENT_ID = env.str("ENTRA_CLIENT_ID", default="")
ENTRA_CLIENT_SECRET = env.str("ENTRA_CLIENT_SECRET", default="")
ENTRA_CLIENT_CERTIFICATE = env.str("ENTRA_CLIENT_CERTIFICATE", default="")  # PEM: private key + certificate
ENTRA_CLIENT_CERTIFICATE_THUMBPRINT = env.str("ENTRA_CLIENT_CERTIFICATE_THUMBPRINT", default="")
ENTRA_TENANT_ID = env.str("ENTRA_TENANT_ID", default="")  # one tenant ...
ENTRA_ALLOWED_TENANTS = env.list("ENTRA_ALLOWED_TENANTS", default=[])  # ... or several (a consultancy)
ENTRA_AUTHORITY_HOST = env.str("ENTRA_AUTHORITY_HOST", default="login.microsoftonline.com")  # national clouds
ENTRA_APP_ID_URI = env.str("ENTRA_APP_ID_URI", default="")  # API tokens' audience besides the client ID
ENTRA_GRAPH_BASE_URL = env.str("ENTRA_GRAPH_BASE_URL", default=GRAPH_BASE_URL)  # groups overage
ENTRA_CA_BUNDLE = env.str("ENTRA_CA_BUNDLE", default="")  # CAs to trust instead of the system's
ENTRA_REDIRECT_URI = env.str("ENTRA_REDIRECT_URI", default="")  # default: <this site>/auth/entra/callback/
ENTRA_SESSION_MAX_AGE = env.int("ENTRA_SESSION_MAX_AGE", default=8 * 3600)  # seconds; then sign in again
if ENTRA_CLIENT_ID and not (ENTRA_TENANT_ID or ENTRA_ALLOWED_TENANTS):
    raise ImproperlyConfigured("ENTRA_CLIENT_ID needs ENTRA_TENANT_ID or ENTRA_ALLOWED_TENANTS.")
for _tenant in [ENTRA_TENANT_ID, *ENTRA_ALLOWED_TENANTS] if ENTRA_CLIENT_ID else []:
    try:
        uuid.UUID(_tenant or "0" * 32)
    except ValueError:
        # Tokens name the tenant by ID (tid); a domain name would never match, refusing everyone.
        raise ImproperlyConfigured(f"Entra tenants are given by ID (a GUID), not {_tenant!r}.") from None
if ENTRA_CLIENT_ID and bool(ENTRA_CLIENT_SECRET) == bool(ENTRA_CLIENT_CERTIFICATE):
    raise ImproperlyConfigured("Set one of ENTRA_CLIENT_SECRET and ENTRA_CLIENT_CERTIFICATE.")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "tenant-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
# One date format everywhere ("29 Nov 2026 14:05"), whatever the locale would say.
FORMAT_MODULE_PATH = ["identityhub.formats"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Production serves hashed, compressed files made by collectstatic; development and tests serve
# straight from static/ through whitenoise's finders.
STATIC_MANIFEST = env.bool("STATIC_MANIFEST", default=not DEBUG)
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")

# Production hardening; `manage.py check --deploy` is clean with DEBUG off.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts, styles, fonts and fetches from this site only; no inline script
# or style, no eval, no plugins, no framing. Pages keep their JavaScript in static/js, htmx its settings in a
# <meta name="htmx-config"> (templates/base.html); images may also be data: URIs (Swagger UI's icons).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# The read-only REST API (reports/api.py): tokens for service accounts, or the browser session.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous call answers 401 with "WWW-Authenticate: Token".
        # Wrong tokens are counted per client address (API_BAD_TOKEN_RATE), before the throttles below.
        "identityhub.reports.throttling.TokenAuthentication",
        # Entra access tokens issued for this app (Authorization: Bearer), when sign-in is configured.
        "identityhub.accounts.authentication.EntraBearerAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "identityhub.reports.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "PAGE_SIZE": 100,  # identityhub.paging.API_PAGE_SIZE (the Pagination class sets it)
    # Requests per user (token or session) and per anonymous client address; beyond: 429 with Retry-After.
    "DEFAULT_THROTTLE_CLASSES": [
        "identityhub.reports.throttling.UserThrottle",
        "identityhub.reports.throttling.AnonThrottle",
    ],
}
API_USER_RATE = env.str("API_USER_RATE", default="1200/minute")
API_ANON_RATE = env.str("API_ANON_RATE", default="60/minute")
# Wrong or unknown tokens, per client address: past this every request with a token waits (429).
API_BAD_TOKEN_RATE = env.str("API_BAD_TOKEN_RATE", default="10/minute")
SPECTACULAR_SETTINGS = {
    "TITLE": "IdentityHub API",
    "DESCRIPTION": "Read-only, per tenant: the same roles as the pages. Authorization: Token <key>.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",  # our static files, not a CDN: /api/docs/ works offline
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "identityhub.reports.api.add_error_responses",
    ],
}

DJANGO_TABLES2_TEMPLATE = "includes/table.html"  # current page marked, page-size choice

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
