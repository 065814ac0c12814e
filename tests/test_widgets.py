"""LeanSelect renders what Django's Select templates render (the findings filter form uses it)."""

import re

from django import forms

from identityhub.widgets import LeanSelect

CHOICES = [("", "Any"), ("a&b", 'Say "<hi>"'), ("x", "X"), ("Group", [("g1", "One"), ("g2", "Two")])]


def normal(html: str) -> str:
    return re.sub(r">\s+<", "><", " ".join(str(html).split()))


def test_lean_select_matches_django_select():
    for value in (None, "", "a&b", "g2"):
        attrs = {"id": "id_rule", "disabled": True, "data-x": False, "title": 'q"'}
        django = forms.Select(choices=CHOICES).render("rule", value, attrs=attrs)
        lean = LeanSelect(choices=CHOICES).render("rule", value, attrs=attrs)
        assert normal(lean) == normal(django), value
    assert "selected" in LeanSelect(choices=CHOICES).render("rule", "g2")
