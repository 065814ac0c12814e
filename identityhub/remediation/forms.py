"""The text admins type when they act on findings and changes, checked before anything is recorded.

Django's CharField refuses NUL characters (PostgreSQL text cannot hold them) and bounds the length; DateField
refuses dates that do not exist (2026-02-30). Errors are shown next to their field in the inline forms.
"""

from django import forms

from . import exceptions

# Longer than any value the rules let through (proxyAddresses: 1,123 characters, the longest AD allows).
VALUE_MAX_CHARS = 4096
JUSTIFICATION_MAX_CHARS = 2000
REASON_MAX_CHARS = 1000


class WaiverForm(forms.Form):
    justification = forms.CharField(
        max_length=JUSTIFICATION_MAX_CHARS,
        error_messages={"required": "Say why this finding may stay."},
        widget=forms.TextInput(attrs={"placeholder": "Why may this stay?", "aria-label": "Justification"}),
    )
    expires_on = forms.DateField(
        input_formats=["%Y-%m-%d"],  # what <input type="date"> sends
        error_messages={"required": "Give the date the exception expires."},
        widget=forms.DateInput(attrs={"type": "date", "aria-label": "Expires on"}, format="%Y-%m-%d"),
    )

    def __init__(self, *args, finding, **kwargs):
        super().__init__(*args, auto_id=f"waive-{finding.pk}-%s", **kwargs)  # one form per row of the list
        # The browser's date picker stops where actions.waive would refuse (exceptions.expiry_problems).
        self.fields["expires_on"].widget.attrs["max"] = exceptions.latest_expiry().isoformat()


class EditForm(forms.Form):
    value = forms.CharField(max_length=VALUE_MAX_CHARS, strip=False, required=False)


class RejectForm(forms.Form):
    reason = forms.CharField(max_length=REASON_MAX_CHARS, required=False)


def error_text(form: forms.Form) -> str:
    """A bound form's errors on one line: "Reason: Null characters are not allowed." """
    return " ".join(
        f"{form.fields[name].label or name.replace('_', ' ').capitalize()}: {' '.join(errors)}"
        if name in form.fields
        else " ".join(errors)
        for name, errors in form.errors.items()
    )
