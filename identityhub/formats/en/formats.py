# One date format on every page (FORMAT_MODULE_PATH): "29 Nov 2026 14:05", a 24-hour clock, no
# locale-dependent "p.m.". Compact forms for dense tables come from the `when` filters (tenants/templatetags/ui.py).
DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y H:i"
SHORT_DATETIME_FORMAT = "j M Y H:i"
TIME_FORMAT = "H:i"
