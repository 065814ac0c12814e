"""The EntraClient of the configured app (settings ENTRA_*), or None when sign-in is not configured."""

from functools import lru_cache

from django.conf import settings

from identityhub.lib.entra import EntraClient, EntraSettings


def entra_settings() -> EntraSettings | None:
    if not settings.ENTRA_CLIENT_ID:
        return None
    tenants = settings.ENTRA_ALLOWED_TENANTS or [settings.ENTRA_TENANT_ID]
    return EntraSettings(
        client_id=settings.ENTRA_CLIENT_ID,
        tenants=tuple(t.strip().lower() for t in tenants if t.strip()),
        client_secret=settings.ENTRA_CLIENT_SECRET,
        certificate_pem=settings.ENTRA_CLIENT_CERTIFICATE,
        certificate_thumbprint=settings.ENTRA_CLIENT_CERTIFICATE_THUMBPRINT,
        authority_host=settings.ENTRA_AUTHORITY_HOST,
        app_id_uri=settings.ENTRA_APP_ID_URI,
        graph_base_url=settings.ENTRA_GRAPH_BASE_URL,
        ca_bundle=settings.ENTRA_CA_BUNDLE,
    )


@lru_cache(maxsize=4)
def _client(config: EntraSettings) -> EntraClient:
    return EntraClient(config)  # one per configuration: the discovery document and keys are reused


def entra_client() -> EntraClient | None:
    config = entra_settings()
    return _client(config) if config else None
