"""Expected bad input is logged as one line at INFO, with a short excerpt: never a traceback, never the whole value.

A form refused for a NUL byte or an impossible date is the application working, not failing: the user got the
reason next to the field. The log line says who, where, and what was wrong, so a probe is still visible.
"""

import logging

log = logging.getLogger("identityhub.badinput")
EXCERPT_CHARS = 300


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """`text` on one line, control characters escaped, at most `limit` characters (and how long it was)."""
    flat = repr(str(text))[1:-1]
    return flat if len(flat) <= limit else f"{flat[:limit]}… ({len(flat):,} chars)"


def refused(request, what: str, reason) -> None:
    """One INFO line: what was refused, for whom, at which path, and why (an excerpt)."""
    if hasattr(reason, "items"):  # form errors
        reason = "; ".join(f"{field}: {' '.join(map(str, errors))}" for field, errors in reason.items())
    user = request.user.get_username() if request.user.is_authenticated else "anonymous"
    log.info("%s refused for %s at %s: %s", what, user, excerpt(request.path, 200), excerpt(reason))
