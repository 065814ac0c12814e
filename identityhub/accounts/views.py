"""The login page, "Sign in with Microsoft" (authorization code flow with PKCE) and sign-out."""

import time

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import views as auth_views
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from identityhub.lib.entra import EntraRefused

from .entra import entra_client

FLOW_KEY = "entra_flow"  # msal's flow (state, nonce, PKCE verifier) between the two legs
NEXT_KEY = "entra_next"
SIGNED_IN_AT = "entra_signed_in_at"  # epoch seconds; the session age is measured from it

REFUSAL_TITLES = {
    "state": "This sign-in was not started in this browser",
    "nonce": "The ID token does not belong to this sign-in",
    "audience": "The token is for another application",
    "issuer": "The token comes from an unexpected issuer",
    "expired": "The token has expired",
    "tenant": "Your organisation may not sign in here",
    "signature": "The token's signature is not valid",
    "disabled": "Your IdentityHub account is disabled",
    "unreachable": "Microsoft Entra ID cannot be reached",
    "credential": "IdentityHub's own credential for Entra ID is not usable",
    "overage": "Your groups could not be read",
    "error": "Microsoft Entra ID did not sign you in",
}


class LoginView(auth_views.LoginView):
    """Django's login, plus the Microsoft button; LOCAL_LOGIN=false leaves only the button."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            entra_enabled=entra_client() is not None, local_login=settings.LOCAL_LOGIN, **kwargs
        )


def _refused(request, reason: str, message: str):
    status = 502 if reason in ("unreachable", "credential") else 403  # our side, not the user's
    title = REFUSAL_TITLES.get(reason, "Sign-in refused")
    context = {"title": title, "message": message, "reason": reason}
    return render(request, "accounts/refused.html", context, status=status)


@require_GET
def entra_sign_in(request):
    client = entra_client()
    if client is None:
        raise Http404("Sign-in with Microsoft is not configured.")
    redirect_uri = settings.ENTRA_REDIRECT_URI or request.build_absolute_uri(reverse("entra-callback"))
    try:
        flow = client.begin_sign_in(redirect_uri)
    except EntraRefused as exc:
        return _refused(request, exc.reason, str(exc))
    wanted = request.GET.get("next", "")
    safe = url_has_allowed_host_and_scheme(wanted, {request.get_host()}, require_https=request.is_secure())
    request.session[FLOW_KEY] = flow
    request.session[NEXT_KEY] = wanted if safe else ""
    return redirect(flow["auth_uri"])


@require_GET
def entra_callback(request):
    client = entra_client()
    if client is None:
        raise Http404("Sign-in with Microsoft is not configured.")
    flow = request.session.pop(FLOW_KEY, None)  # one use only: a replayed answer finds none
    next_url = request.session.pop(NEXT_KEY, "")
    if flow is None:
        return _refused(request, "state", "This sign-in was not started here, or its answer was already used.")
    try:
        identity = client.complete_sign_in(flow, request.GET.dict())
    except EntraRefused as exc:
        return _refused(request, exc.reason, str(exc))
    user = auth.authenticate(request, entra_identity=identity)
    if user is None:
        return _refused(request, "disabled", "An administrator has disabled your IdentityHub account.")
    auth.login(request, user)
    request.session[SIGNED_IN_AT] = time.time()
    return redirect(next_url or settings.LOGIN_REDIRECT_URL)


@require_POST
def sign_out(request):
    """End the Django session; after an Entra sign-in, offer Entra's end-session endpoint too."""
    from_entra = SIGNED_IN_AT in request.session
    auth.logout(request)
    client = entra_client() if from_entra else None
    end_session = None
    if client is not None:
        try:
            end_session = client.end_session_url(request.build_absolute_uri(reverse("login")))
        except EntraRefused:
            end_session = None
    if end_session is None:
        return redirect(settings.LOGOUT_REDIRECT_URL)
    return render(request, "accounts/signed_out.html", {"end_session_url": end_session})
