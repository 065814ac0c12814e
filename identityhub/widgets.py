"""Form widgets rendered in Python where Django's templates cost too much per request."""

from functools import lru_cache

from django import forms
from django.utils.html import conditional_escape, escape
from django.utils.safestring import mark_safe


def _attrs(attrs: dict) -> str:
    # As django/forms/widgets/attrs.html: False leaves the attribute out, True writes its name alone.
    return "".join(
        f" {name}" if value is True else f' {name}="{escape(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


@lru_cache(maxsize=2048, typed=True)  # typed: a label marked safe is not the same label unescaped
def _option(value: str, label: str, selected: bool) -> str:
    # As select_option.html: a <select>'s options inherit none of its attributes.
    return f'\n  <option value="{escape(value)}"{" selected" if selected else ""}>{conditional_escape(label)}</option>'


class LeanSelect(forms.Select):
    """A <select> with the markup of Django's select.html and select_option.html, built without a
    template per option.

    The findings list's filter form offers ~130 options (98 problems) on every request; through the
    templates (an include and an attrs include per option) they cost ~15 ms of a page that must stay
    near 30 ms under load (issue 18). Each option is written straight from the choices, as
    ChoiceWidget.optgroups() would select it, without the dict optgroups() makes of it, and an
    option's markup is kept once made (the same few hundred options on every request)."""

    def render(self, name, value, attrs=None, renderer=None):
        # Select.get_context() without the optgroups: the value as a list of strings, the attributes.
        widget = forms.Widget.get_context(self, name, value, attrs)["widget"]
        if self.allow_multiple_selected:
            widget["attrs"]["multiple"] = True
        values, multiple = widget["value"], self.allow_multiple_selected
        parts = [f'<select name="{escape(widget["name"])}"{_attrs(widget["attrs"])}>']
        has_selected = False
        for option_value, option_label in self.choices:
            option_value = "" if option_value is None else option_value  # as optgroups()
            group = isinstance(option_label, (list, tuple))
            if group and option_value:
                parts.append(f'\n  <optgroup label="{escape(option_value)}">')
            for value_, label in option_label if group else ((option_value, option_label),):
                value_ = str(value_)  # compared as optgroups() does, written as stringformat:'s'
                selected = (not has_selected or multiple) and value_ in values
                has_selected |= selected
                if not isinstance(label, str):  # e.g. a lazy translation: its text in today's language
                    label = conditional_escape(label)
                parts.append(_option(value_, label, selected))
            if group and option_value:
                parts.append("\n  </optgroup>")
        parts.append("\n</select>")
        return mark_safe("".join(parts))  # noqa: S308 - every name, value and label escaped above


class LeanTextInput(forms.TextInput):
    """A text <input> with the markup of Django's input.html, built without its two templates (the
    findings list's filter form has three on every request)."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        shown = "" if widget["value"] is None else f' value="{escape(widget["value"])}"'
        attrs = _attrs(widget["attrs"])
        return mark_safe(f'<input type="{escape(widget["type"])}" name="{escape(widget["name"])}"{shown}{attrs}>')  # noqa: S308 - every name, value and attribute escaped above
