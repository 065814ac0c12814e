from django import forms
from django.conf import settings
from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.dn import parse_dn

from identityhub.lib import egress

from .models import Checkpoint, Webhook


class SignOffForm(forms.Form):
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=2000, help_text="What you checked, and where."
    )


class RoundTripForm(forms.Form):
    forest = forms.ModelChoiceField(queryset=None, empty_label=None)

    def __init__(self, *args, tenant, forests=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The round trip creates a group over LDAP: only forests with a reachable DC.
        self.fields["forest"].queryset = tenant.forests.filter(export_only=False)
        if forests is not None:
            # The tenant's forests as the page already loaded them: the select renders from this list
            # instead of querying on each iteration (the widget iterates its choices twice); what is
            # posted is still checked against the queryset.
            self.fields["forest"].choices = [
                (f.pk, self.fields["forest"].label_from_instance(f)) for f in forests if not f.export_only
            ]


class CheckpointForm(forms.ModelForm):
    class Meta:
        model = Checkpoint
        fields = Checkpoint.THRESHOLD_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["escrow_max_age_hours"].required = False  # empty keeps the current threshold

    def clean_escrow_max_age_hours(self):
        hours = self.cleaned_data.get("escrow_max_age_hours")
        return hours if hours is not None else self.instance.escrow_max_age_hours

    def clean_test_group_container(self):
        value = self.cleaned_data["test_group_container"].strip()
        if value:
            try:
                parse_dn(value)
            except LDAPInvalidDnError as exc:
                raise forms.ValidationError(f"Not a valid DN: {exc}") from exc
        return value


class WebhookForm(forms.ModelForm):
    url = forms.URLField(
        label="URL", max_length=1000, assume_scheme="https",
        help_text="http(s) only; a Teams or Slack incoming webhook, or any JSON receiver.",
    )  # fmt: skip
    events = forms.MultipleChoiceField(
        choices=Webhook.Event.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[c for c, _ in Webhook.Event.choices],
    )
    # Never shown back: a stored secret stays stored.
    secret = forms.CharField(widget=forms.PasswordInput, required=False, max_length=200)

    class Meta:
        model = Webhook
        fields = ["url", "events", "secret"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        if invalid := egress.host_error(url):  # e.g. a right-to-left override hidden in the name
            raise forms.ValidationError(invalid)
        # The worker checks the address it connects to; this only catches the plain cases early.
        reason = None if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES else egress.local_host_reason(url)
        if reason:
            raise forms.ValidationError(f"{reason} Webhooks go to internet receivers (Teams, Slack, ...).")
        return url
