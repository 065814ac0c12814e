"""LeanSelect renders what Django's Select templates render (the findings filter form uses it)."""

import re

from django import forms
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from identityhub.widgets import LeanSelect, LeanTextInput

CHOICES = [
    ("", "Any"),
    ("a&b", 'Say "<hi>"'),
    ("x", "X"),
    ("Group", [("g1", "One"), ("g2", "Two"), (None, "None in a group")]),
    (None, "None"),
    (7, 7),
    ("safe", mark_safe("<b>bold</b>")),
    ("unsafe", "<b>bold</b>"),
    ("lazy", gettext_lazy("Any")),
    ("x", "X again: only the first is selected"),
]


def normal(html: str) -> str:
    return re.sub(r">\s+<", "><", " ".join(str(html).split()))


def test_lean_select_matches_django_select():
    for value in (None, "", "a&b", "g2", "None", 7, "x", "safe"):
        attrs = {"id": "id_rule", "disabled": True, "data-x": False, "title": 'q"'}
        django = forms.Select(choices=CHOICES).render("rule", value, attrs=attrs)
        lean = LeanSelect(choices=CHOICES).render("rule", value, attrs=attrs)
        assert normal(lean) == normal(django), value
    assert "selected" in LeanSelect(choices=CHOICES).render("rule", "g2")


def test_lean_select_multiple_matches_django_select_multiple():
    class LeanSelectMultiple(LeanSelect):
        allow_multiple_selected = True

    for value in (None, ["x", "g1"], ["safe", "unsafe", 7]):
        django = forms.SelectMultiple(choices=CHOICES).render("rule", value)
        lean = LeanSelectMultiple(choices=CHOICES).render("rule", value)
        assert normal(lean) == normal(django), value


def test_lean_text_input_matches_django_text_input():
    for value in (None, "", 'a "<b>" & c', 7):
        for attrs in (None, {"id": "id_q", "required": True, "disabled": False, "placeholder": "<DN>"}):
            django = forms.TextInput(attrs={"size": 10}).render("q", value, attrs=attrs)
            lean = LeanTextInput(attrs={"size": 10}).render("q", value, attrs=attrs)
            assert lean == django, (value, attrs)
