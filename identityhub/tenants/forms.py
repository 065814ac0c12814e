from cryptography import x509
from django import forms
from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.dn import parse_dn

from identityhub.lib.directory import DirectorySettings

from .models import Forest

# Far longer than any DN a directory builds (an RDN value is at most 64 characters), short enough that
# parsing, scanning with and printing it (the evidence pack) stay cheap.
DN_MAX_CHARS = 2048


def _validate_dns(text: str, label: str) -> None:
    for line in (line.strip() for line in text.splitlines()):
        if not line:
            continue
        if len(line) > DN_MAX_CHARS:
            raise forms.ValidationError(
                f"{label}: a DN of {len(line):,} characters ({line[:40]!r}…); at most {DN_MAX_CHARS:,}."
            )
        try:
            parse_dn(line)
        except LDAPInvalidDnError as exc:
            raise forms.ValidationError(f"{label}: {line[:200]!r} is not a valid DN.") from exc


def _lines(text: str) -> list[str]:
    return [line.strip().lower() for line in (text or "").splitlines() if line.strip()]


class ForestForm(forms.ModelForm):
    """Create or edit a forest. The stored bind password is never sent back to the browser."""

    bind_password = forms.CharField(
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        required=False,
        strip=False,
    )

    class Meta:
        model = Forest
        fields = [
            "name",
            "servers",
            "port",
            "use_starttls",
            "ca_certificate",
            "base_dns",
            "bind_user",
            "bind_password",
            "include_ous",
            "exclude_ous",
            "extra_filter",
            "export_only",
            "scan_schedule",
            "full_scan_time",
            "delta_minutes",
        ]
        widgets = {
            "servers": forms.Textarea(attrs={"rows": 2}),
            "ca_certificate": forms.Textarea(attrs={"rows": 3, "class": "mono"}),
            "base_dns": forms.Textarea(attrs={"rows": 2}),
            "include_ous": forms.Textarea(attrs={"rows": 2}),
            "exclude_ous": forms.Textarea(attrs={"rows": 2}),
            "full_scan_time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.instance.tenant = tenant
        has_password = bool(self.instance.pk and self.instance.bind_password)
        # Left out (an older client, the API of a script): the model's defaults, nightly and 15 minutes.
        for name in ("full_scan_time", "delta_minutes"):
            self.fields[name].required = False
        self.fields["bind_password"].help_text = (
            "A password is stored. Leave empty to keep it." if has_password else "Stored encrypted."
        )

    def clean_full_scan_time(self):
        value = self.cleaned_data.get("full_scan_time")
        return value if value is not None else Forest._meta.get_field("full_scan_time").default

    def clean_delta_minutes(self):
        value = self.cleaned_data.get("delta_minutes")
        return value if value is not None else Forest._meta.get_field("delta_minutes").default

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        clash = Forest.objects.filter(tenant=self.tenant, name__iexact=name).exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("This tenant already has a forest of that name.")
        return name

    def clean_servers(self):
        servers = self.cleaned_data["servers"]
        if not [s for s in servers.splitlines() if s.strip()]:
            raise forms.ValidationError("Name at least one domain controller.")
        return servers

    def clean_base_dns(self):
        text = self.cleaned_data["base_dns"]
        if not text.strip():
            raise forms.ValidationError("Name at least one base DN.")
        _validate_dns(text, "Base DN")
        return text

    def clean_include_ous(self):
        _validate_dns(self.cleaned_data["include_ous"], "Include OU")
        return self.cleaned_data["include_ous"]

    def clean_exclude_ous(self):
        _validate_dns(self.cleaned_data["exclude_ous"], "Exclude OU")
        return self.cleaned_data["exclude_ous"]

    def clean_extra_filter(self):
        text = self.cleaned_data["extra_filter"].strip()
        if text and not (text.startswith("(") and text.endswith(")") and text.count("(") == text.count(")")):
            raise forms.ValidationError("An LDAP filter in parentheses, e.g. (department=Sales).")
        return text

    def clean_ca_certificate(self):
        pem = self.cleaned_data["ca_certificate"].strip()
        if pem:
            try:
                x509.load_pem_x509_certificates(pem.encode())
            except ValueError as exc:
                raise forms.ValidationError("Not a PEM certificate (-----BEGIN CERTIFICATE-----).") from exc
        return pem

    def clean_bind_password(self):
        password = self.cleaned_data["bind_password"]
        if password:
            return password
        if not self.instance.pk:
            raise forms.ValidationError("The bind password is required.")
        if self.instance.bind_password and self._endpoint_changed():
            # Else anyone who may edit the forest could point it at a host of theirs and have the
            # stored password sent there in a simple bind.
            raise forms.ValidationError(
                "The servers, port or TLS settings differ from the saved ones: type the bind password "
                "again to test or save them."
            )
        # The stored one (none for a forest known only from exports): a schedule or scope change
        # never needs the password retyped.
        return self.instance.bind_password

    def _endpoint_changed(self) -> bool:
        """Do the servers, port or TLS settings typed differ from the saved ones? (Unreadable: yes.)"""
        saved = self.instance
        typed = self.cleaned_data
        if not {"servers", "port", "use_starttls", "ca_certificate"} <= typed.keys():
            return True
        return (
            _lines(typed["servers"]) != _lines(saved.servers)
            or typed["port"] != saved.port
            or typed["use_starttls"] != saved.use_starttls
            or typed["ca_certificate"].strip() != (saved.ca_certificate or "").strip()
        )

    def directory_settings(self) -> DirectorySettings:
        """Connection settings from the cleaned form, for "Test connection" before saving."""
        data = self.cleaned_data
        return DirectorySettings(
            servers=[s.strip() for s in data["servers"].splitlines() if s.strip()],
            bind_user=data["bind_user"],
            bind_password=data["bind_password"],
            base_dns=[s.strip() for s in data["base_dns"].splitlines() if s.strip()],
            port=data["port"],
            use_starttls=data["use_starttls"],
            ca_certificate=data["ca_certificate"],
        )
