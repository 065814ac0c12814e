"""A validated Entra identity -> the IdentityHub user, and the memberships its mappings grant."""

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from identityhub.lib.entra import Identity
from identityhub.tenants.models import Membership, RoleMapping

from .models import EntraIdentity


def user_for(identity: Identity):
    """The user of this tid + oid (created on first sign-in), its UPN and name refreshed, roles re-mapped."""
    try:
        with transaction.atomic():
            user = _refresh_or_create(identity)
    except IntegrityError:  # a parallel first sign-in of the same account created it: use that one
        with transaction.atomic():
            user = _refresh_or_create(identity)
    sync_mapped_memberships(user, identity)
    return user


def _refresh_or_create(identity: Identity):
    User = get_user_model()
    link = (
        EntraIdentity.objects.select_for_update()
        .select_related("user")
        .filter(tenant_id=identity.tid, object_id=identity.oid)
        .first()
    )
    if link is None:
        user = User(username=_free_username(identity))
        user.set_unusable_password()  # only Entra signs this user in
        user.save()
        link = EntraIdentity(user=user, tenant_id=identity.tid, object_id=identity.oid)
    user = link.user
    link.upn, link.display_name, link.last_sign_in = identity.upn[:255], identity.name[:255], timezone.now()
    link.save()
    first, _, last = identity.name.partition(" ")
    if (user.first_name, user.last_name) != (first[:150], last[:150]):
        user.first_name, user.last_name = first[:150], last[:150]
        user.save(update_fields=["first_name", "last_name"])
    return user


def _free_username(identity: Identity) -> str:
    User = get_user_model()
    wanted = (identity.upn or f"entra-{identity.oid}")[:150]
    if not User.objects.filter(username=wanted).exists():
        return wanted
    return f"{wanted[:140]}-{identity.oid[:8]}"  # a local user, or a former account with that UPN


def sync_mapped_memberships(user, identity: Identity) -> None:
    """Mapped memberships become exactly what the mappings grant now; local ones are left alone."""
    wanted = RoleMapping.objects.roles_for(identity.tid, identity.groups, identity.roles)
    with transaction.atomic():
        current = {m.tenant_id: m for m in Membership.objects.select_for_update().filter(user=user)}
        for tenant_id, membership in current.items():
            if membership.source != Membership.Source.MAPPED:
                continue  # given by hand: stays, and wins over any mapping
            if tenant_id not in wanted:
                membership.delete()
            elif membership.role != wanted[tenant_id]:
                membership.role = wanted[tenant_id]
                membership.save(update_fields=["role"])
        Membership.objects.bulk_create(
            Membership(user=user, tenant_id=tenant_id, role=role, source=Membership.Source.MAPPED)
            for tenant_id, role in wanted.items()
            if tenant_id not in current
        )
