"""pytest plugin: real directory servers for the test session.

Enable with `pytest_plugins = ["tests.lab.fixtures"]` in tests/conftest.py.

* samba_forests  (session) dict name -> SambaForest for CORP (127.0.0.11) and FABRIKAM (127.0.0.12),
                 provisioned in parallel, Exchange schema added, seeded (forest.seed: seed.Seed).
* corp_forest, fabrikam_forest  (session) the two entries of samba_forests.
* slapd_directory (session) factory: slapd_directory(ldif_path=None, suffix=...) -> SlapdHandle.

A missing tool skips the tests that need it, or fails them when CI=true.
LAB_SAMBA_CACHE=<dir> (opt-in, for local loops) caches pristine provisions: ~10-20 s saved per run.
Lab timings are printed in the terminal summary ("directory lab timings").
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from . import samba, slapd

LAB_TIMINGS: dict[str, float] = {}


def require(missing: str | None) -> None:
    if not missing:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and the directory lab cannot run: {missing}", pytrace=False)
    pytest.skip(missing)


@pytest.fixture(scope="session")
def samba_forests(tmp_path_factory) -> Iterator[dict[str, samba.SambaForest]]:
    require(samba.tools_missing())
    forests = samba.lab_forests(tmp_path_factory.mktemp("samba"))
    try:
        LAB_TIMINGS.update(samba.bring_up(forests))
        yield {forest.name: forest for forest in forests}
    finally:
        for forest in forests:
            forest.stop()


@pytest.fixture(scope="session")
def corp_forest(samba_forests) -> samba.SambaForest:
    return samba_forests["CORP"]


@pytest.fixture(scope="session")
def fabrikam_forest(samba_forests) -> samba.SambaForest:
    return samba_forests["FABRIKAM"]


@pytest.fixture(autouse=True)
def _restart_stopped_dcs(request) -> Iterator[None]:
    """A test may stop() a DC; the next test must still find it running (same data: same dir)."""
    if "samba_forests" not in request.fixturenames:
        yield
        return
    forests = request.getfixturevalue("samba_forests")
    yield
    for forest in forests.values():
        if not forest.running:
            forest.start()


@pytest.fixture(scope="session")
def slapd_directory(tmp_path_factory):
    require(slapd.tools_missing())
    handles: list[slapd.SlapdHandle] = []

    def make(ldif_path=None, suffix: str = "DC=corp,DC=example,DC=test") -> slapd.SlapdHandle:
        workdir = tmp_path_factory.mktemp("slapd")
        handles.append(slapd.start_slapd(workdir, suffix, ldif_path))
        return handles[-1]

    try:
        yield make
    finally:
        for handle in handles:
            handle.stop()


def pytest_terminal_summary(terminalreporter) -> None:
    if LAB_TIMINGS:
        terminalreporter.section("directory lab timings")
        for step, secs in LAB_TIMINGS.items():
            terminalreporter.write_line(f"{step:<28} {secs:6.2f} s")
