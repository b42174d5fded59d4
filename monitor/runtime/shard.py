"""Splitting a catalog across replicas with rendezvous (highest-random-weight) hashing.

Each service goes to the shard with the highest hash of (service id, shard index). Going from
n to n+1 shards moves only the services the new shard wins, about 1/(n+1) of them, instead of
most of them as ``hash % n`` would; every replica decides alone, with no coordination.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from monitor.catalog import Catalog


@dataclass(frozen=True, slots=True)
class Shard:
    index: int  # 0-based
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: expected 0 <= index < count")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``i/n``, e.g. ``0/4``; a StatefulSet pod passes its ordinal as i."""
        index, sep, count = text.partition("/")
        if not sep or not index.isdigit() or not count.isdigit() or int(count) < 1:
            raise ValueError(f"expected a shard as INDEX/COUNT, e.g. 0/4, got {text!r}")
        return cls(int(index), int(count))

    def owns(self, service_id: str) -> bool:
        return owner(service_id, self.count) == self.index

    def select(self, catalog: Catalog) -> Catalog:
        """The catalog with only this shard's services and platforms (all regions, curators
        and bundles). Platforms are split by the same hash: they share the services' ids, and
        a platform probed by every shard would be probed (and exported) once per shard."""
        if self.count == 1:
            return catalog
        owned = tuple(s for s in catalog.services if self.owns(s.id))
        platforms = tuple(p for p in catalog.platforms if self.owns(p.id))
        return catalog.model_copy(update={"services": owned, "platforms": platforms})

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def owner(service_id: str, count: int) -> int:
    return max(range(count), key=lambda i: _weight(service_id, i))


def _weight(service_id: str, index: int) -> int:
    digest = hashlib.blake2b(f"{index}:{service_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")
