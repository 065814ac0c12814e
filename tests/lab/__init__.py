"""Real directory servers for the tests: Samba AD DCs (samba.py), slapd (slapd.py), seed data (seed.py).

The pytest side lives in fixtures.py (a plugin). See /work/shared/reference/directory-lab.md for the
measurements and traps behind every setting.
"""
