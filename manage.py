#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["check_export"]:
        # An offline check of export files: plain Python, no settings, SECRET_KEY or database.
        from identityhub.export_check import main

        sys.exit(main(sys.argv[2:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "identityhub.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
