"""IdentityHub rule catalogue: which directory objects and values fail or degrade in Entra sync.

Plain Python, no Django. Facts from Microsoft's documentation, cited where each is used and listed
in docs/architecture.md (Sources).
"""

from .catalogue import CATALOGUE_VERSION, RULES, Rule
from .checks import check_entry, check_value
from .domains import is_routable
from .duplicates import DuplicateFinder, identity_keys
from .exclusions import exclusion_reason
from .model import Context, Finding

__all__ = [
    "CATALOGUE_VERSION",
    "RULES",
    "Context",
    "DuplicateFinder",
    "Finding",
    "Rule",
    "check_entry",
    "check_value",
    "exclusion_reason",
    "identity_keys",
    "is_routable",
]
