"""Which Entra ID account a user is: keyed by the token's tid + oid, never by a mutable UPN or email."""

from django.conf import settings
from django.db import models


class EntraIdentity(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="entra_identity")
    tenant_id = models.UUIDField("Entra tenant ID (tid)")
    object_id = models.UUIDField("object ID (oid)")
    # Refreshed at every sign-in; shown, never used to find the user.
    upn = models.CharField("user principal name", max_length=255, blank=True)
    display_name = models.CharField(max_length=255, blank=True)
    first_sign_in = models.DateTimeField(auto_now_add=True)
    last_sign_in = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Entra identity"
        verbose_name_plural = "Entra identities"
        constraints = [models.UniqueConstraint(fields=["tenant_id", "object_id"], name="one_user_per_entra_object")]

    def __str__(self):
        return f"{self.upn or self.object_id} ({self.tenant_id})"
