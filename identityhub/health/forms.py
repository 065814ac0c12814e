import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from django import forms

from .models import GraphConnection, SyncEngine


class SecretTextarea(forms.Textarea):
    """Like PasswordInput(render_value=False): a pasted private key is never sent back, not even
    when the form comes back with an error."""

    def format_value(self, value):
        return None


class GraphConnectionForm(forms.ModelForm):
    """The app registration IdentityHub reads Graph with. Stored credentials are never sent back:
    the secret and the private key fields always render empty, and empty keeps what is stored."""

    tenant_id = forms.UUIDField(label="Entra tenant (directory) ID", help_text="A GUID, from the app's overview page.")
    client_secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="The secret's value, not its ID.",
    )
    certificate_key = forms.CharField(
        label="or certificate private key (PEM)",
        required=False,
        widget=SecretTextarea(attrs={"rows": 3, "class": "mono", "autocomplete": "off"}),
        help_text="The RSA private key, optionally followed by the certificate (then the thumbprint is computed).",
    )

    class Meta:
        model = GraphConnection
        fields = [
            "client_id",
            "client_secret",
            "certificate_key",
            "certificate_thumbprint",
            "sync_engine",
            "provisioning_log_days",
        ]

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.instance.tenant = tenant
        self.fields["tenant_id"].initial = tenant.entra_tenant_id
        # A ModelForm would fill these from the instance: never render stored credentials.
        self.initial.pop("client_secret", None)
        self.initial.pop("certificate_key", None)
        stored = self.instance.pk and (self.instance.client_secret or self.instance.certificate_key)
        if stored:
            what = "A certificate" if self.instance.uses_certificate else "A client secret"
            self.fields["client_secret"].help_text = f"{what} is stored. Leave both empty to keep it."
        self.order_fields(["tenant_id", "client_id", "client_secret", "certificate_key", "certificate_thumbprint"])
        self.fields["sync_engine"].choices = [("", "Detect from Graph")] + list(SyncEngine.choices)
        self.fields["provisioning_log_days"].required = False  # empty: the default window

    def clean_provisioning_log_days(self):
        days = self.cleaned_data.get("provisioning_log_days")
        return days if days is not None else GraphConnection._meta.get_field("provisioning_log_days").default

    def clean_certificate_thumbprint(self):
        return re.sub(r"[\s:]", "", self.cleaned_data["certificate_thumbprint"]).lower()

    def clean(self):
        data = super().clean()
        secret, key = data.get("client_secret"), (data.get("certificate_key") or "").strip()
        if secret and key:
            raise forms.ValidationError("Give a client secret or a certificate, not both.")
        if key:
            data["certificate_key"], thumbprint = self._read_pem(key)
            data["certificate_thumbprint"] = thumbprint or data.get("certificate_thumbprint", "")
            if not re.fullmatch(r"[0-9a-f]{40}", data["certificate_thumbprint"]):
                self.add_error("certificate_thumbprint", "The certificate's SHA-1 thumbprint: 40 hex digits.")
            data["client_secret"] = ""
        elif secret:
            data["certificate_key"], data["certificate_thumbprint"] = "", ""
        elif self.instance.pk and (self.instance.client_secret or self.instance.certificate_key):
            # Keep what is stored.
            data["client_secret"] = self.instance.client_secret
            data["certificate_key"] = self.instance.certificate_key
            data["certificate_thumbprint"] = data.get("certificate_thumbprint") or self.instance.certificate_thumbprint
        else:
            raise forms.ValidationError("Give the app's client secret or a certificate private key.")
        return data

    def _read_pem(self, pem: str) -> tuple[str, str]:
        """The private key PEM alone, and the thumbprint of a certificate pasted with it."""
        blocks = [
            (m.group(1), m.group(0)) for m in re.finditer(r"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----", pem, re.S)
        ]
        keys = [text for kind, text in blocks if "PRIVATE KEY" in kind]
        if not keys:
            raise forms.ValidationError("No private key found (-----BEGIN PRIVATE KEY-----).")
        try:
            serialization.load_pem_private_key(keys[0].encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise forms.ValidationError("The private key cannot be read (an unencrypted PEM key is needed).") from exc
        thumbprint = ""
        certificates = [text for kind, text in blocks if kind == "CERTIFICATE"]
        if certificates:
            try:
                cert = x509.load_pem_x509_certificate(certificates[0].encode())
            except ValueError as exc:
                raise forms.ValidationError("The certificate cannot be read.") from exc
            thumbprint = cert.fingerprint(hashes.SHA1()).hex()  # noqa: S303 - what Entra calls the thumbprint
        return keys[0], thumbprint

    def credentials(self) -> dict:
        """Keyword arguments of pulls.make_client() from the cleaned form (for Test connection)."""
        data = self.cleaned_data
        return {
            "tenant_id": data["tenant_id"],
            "client_id": data["client_id"],
            "secret": data["client_secret"],
            "certificate_key": data["certificate_key"],
            "thumbprint": data["certificate_thumbprint"],
        }

    def save(self, commit=True, user=None):
        connection = super().save(commit=False)
        data = self.cleaned_data
        connection.client_secret = data["client_secret"]
        connection.certificate_key = data["certificate_key"]
        connection.certificate_thumbprint = data["certificate_thumbprint"]
        connection.updated_by = user
        if commit:
            connection.save()
            self.tenant.entra_tenant_id = data["tenant_id"]
            self.tenant.save(update_fields=["entra_tenant_id"])
        return connection
