"""Real directory servers for the tests: Samba AD DCs (samba.py), slapd (slapd.py), seed data (seed.py).

The pytest side lives in fixtures.py (a plugin). The reason for each setting is commented where it
is made; docs/architecture.md ("Testing with real services") gives the overview.
"""
