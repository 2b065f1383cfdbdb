"""`weightlib cache`: see, verify and clean the models a node holds, on disk and in the page cache.

Reads and changes both hubs' caches in their clients' own layouts: `inventory` lists them,
`verify` re-hashes a revision, `repair` fetches the bad files again, `remove` and `prune` delete
what nothing needs, under the download locks.
"""

from __future__ import annotations

from .inventory import SORT_ORDERS, SOURCES, CacheRoots, Inventory, list_cache
from .model import STATES, CachedRepo, CachedRevision, PartialFile
from .prune import DEFAULT_PARTIAL_AGE, PrunePlan, parse_age, plan_prune
from .remove import Removal, carry_out, plan_removal
from .repair import repair
from .verify import VerifyReport, verify_cached_revision

__all__ = [
    "DEFAULT_PARTIAL_AGE",
    "SORT_ORDERS",
    "SOURCES",
    "STATES",
    "CacheRoots",
    "CachedRepo",
    "CachedRevision",
    "Inventory",
    "PartialFile",
    "PrunePlan",
    "Removal",
    "VerifyReport",
    "carry_out",
    "list_cache",
    "parse_age",
    "plan_prune",
    "plan_removal",
    "repair",
    "verify_cached_revision",
]
