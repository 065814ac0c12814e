from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "identityhub.tenants"
    label = "tenants"
    verbose_name = "Tenants and forests"
