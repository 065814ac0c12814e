"""An Entra sign-in lasts ENTRA_SESSION_MAX_AGE seconds: then the user signs in again, and the
role mappings are recomputed (someone removed from a group loses the role at the latest then)."""

import time

from django.conf import settings
from django.contrib import auth, messages

from .views import SIGNED_IN_AT


class EntraSessionAgeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = request.session.get(SIGNED_IN_AT)
        if started is not None and time.time() - float(started) > settings.ENTRA_SESSION_MAX_AGE:
            auth.logout(request)  # the view then answers as for anyone signed out (login page, 401)
            messages.info(request, "Your sign-in has expired. Sign in with Microsoft again.")
        return self.get_response(request)
