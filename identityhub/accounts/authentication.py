"""API authentication with Entra access tokens issued for this app (a managed identity, a daemon
with client credentials, or a user through another app): ``Authorization: Bearer <token>``."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from identityhub.lib.entra import EntraRefused, identity_of

from .entra import entra_client
from .signin import user_for


class EntraBearerAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None  # not ours: DRF tokens and the session go on
        client = entra_client()
        if client is None:
            raise AuthenticationFailed("Bearer tokens are not accepted: sign-in with Entra ID is not configured.")
        if len(parts) != 2:
            raise AuthenticationFailed("Give exactly one token after Bearer.")
        try:
            claims = client.validate(parts[1].decode("ascii", "replace"), client.settings.api_audiences)
        except EntraRefused as exc:
            raise AuthenticationFailed(f"Entra token refused: {exc}") from exc
        identity = identity_of(claims)
        if identity.groups_overage:
            # No delegated Graph token comes with an API call to read the groups: use app roles.
            raise AuthenticationFailed(
                "This token has the groups overage claim; assign the caller an app role of IdentityHub instead."
            )
        user = user_for(identity)  # roles re-mapped from this token's app roles (and groups)
        if not user.is_active:
            raise AuthenticationFailed("This account is disabled in IdentityHub.")
        return user, claims

    def authenticate_header(self, request):
        return "Bearer"


class EntraBearerScheme(OpenApiAuthenticationExtension):
    """The scheme in the OpenAPI document (drf-spectacular finds it by target_class)."""

    target_class = EntraBearerAuthentication
    name = "entraBearer"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An Entra ID access token issued for IdentityHub (audience: its client ID or api:// URI).",
        }
