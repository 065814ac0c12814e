"""Cells of the evidence PDF: bounded text with break opportunities, so WeasyPrint's layout stays linear.

`word-break: break-all` on a long monospace value made the table layout quadratic (10 KB: 223 s). Each cell
instead holds at most PDF_CELL_CHARS characters, with a zero-width space after every comma and every
BREAK_EVERY characters without a space: lines can wrap there, and the text copied from the PDF is unchanged.
"""

import re

from django import template

from identityhub.reports.tabular import PDF_CELL_CHARS, clip

register = template.Library()

BREAK_EVERY = 24
_UNBROKEN = re.compile(rf"[^\s,\u200b]{{{BREAK_EVERY}}}")
_ZWSP = "\u200b"


@register.filter
def pdf_cell(value, separator: str = ", ") -> str:
    """One cell: a list joined by `separator`, at most PDF_CELL_CHARS characters, breakable."""
    if isinstance(value, list | tuple):
        value = separator.join(str(v) for v in value)
    out = clip(value, PDF_CELL_CHARS).replace(",", "," + _ZWSP)
    return _UNBROKEN.sub(lambda m: m.group() + _ZWSP, out)
