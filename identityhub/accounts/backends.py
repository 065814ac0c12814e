"""Authentication backends: plain Django ones, so login throttling (django-axes) can wrap them."""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend

from .signin import user_for


class LocalPasswordBackend(ModelBackend):
    """Django's password check. With LOCAL_LOGIN=false only superusers pass (break-glass)."""

    def user_can_authenticate(self, user):
        return super().user_can_authenticate(user) and (settings.LOCAL_LOGIN or user.is_superuser)


class EntraBackend(ModelBackend):
    """A user whose Entra ID token views.entra_callback has validated (lib/entra.py)."""

    def authenticate(self, request, entra_identity=None, **kwargs):
        if entra_identity is None:
            return None
        user = user_for(entra_identity)
        return user if self.user_can_authenticate(user) else None
