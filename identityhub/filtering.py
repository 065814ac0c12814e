"""Filters taken from a query string that must select exactly what they say, or nothing (bulk "every row").

django-filter ignores a filter whose value does not validate and filters on the rest: on a list page that
shows more rows next to the error, but a bulk action on "every finding matching severity=hygienex" would
act on every finding. `refusals` names each parameter that would be ignored that way.
"""

# Parameters of a list's query string that are not filters (paging and sorting of the page it came from).
LIST_PARAMS = frozenset({"page", "per_page", "sort"})


def refusals(filterset, ignore=LIST_PARAMS) -> dict[str, list[str]]:
    """{parameter: [why]} for every given parameter the filterset would not apply as written."""
    out = {name: list(errors) for name, errors in filterset.errors.items()}
    data = filterset.data
    for name in data:
        if name in ignore or name in out:
            continue
        if name not in filterset.filters:
            out[name] = ["Not a filter of this list."]
        elif any(v.strip() for v in data.getlist(name)) and filterset.form.cleaned_data.get(name) in (None, ""):
            # e.g. a yes/no filter given "maybe": the form reads it as "any", which would widen the selection.
            out[name] = [f"Not a valid value: {data.get(name)[:50]!r}."]
    return out


def refusal_text(errors: dict[str, list[str]]) -> str:
    return "; ".join(f"{name}: {' '.join(reasons)}" for name, reasons in sorted(errors.items()))
