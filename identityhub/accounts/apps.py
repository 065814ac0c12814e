from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "identityhub.accounts"
    label = "accounts"
    verbose_name = "Sign-in with Microsoft Entra ID"
