import collections
from pathlib import Path

import pytest

from harness.catalog_factory import catalog_dict, write_catalog
from monitor.catalog.model import Catalog
from monitor.runtime.daemon import Daemon, DaemonOptions
from monitor.runtime.shard import Shard, owner

IDS = [f"svc-{i:05d}" for i in range(10_000)]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_shards_cover_every_service_exactly_once_and_evenly(n: int) -> None:
    shards = [Shard(i, n) for i in range(n)]
    owners: collections.Counter[int] = collections.Counter()
    for sid in IDS:
        mine = [s.index for s in shards if s.owns(sid)]
        assert len(mine) == 1
        owners[mine[0]] += 1
    assert set(owners) == set(range(n))
    expected = len(IDS) / n
    assert all(abs(c - expected) < 0.1 * expected for c in owners.values()), owners


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_growing_from_n_to_n_plus_1_moves_about_one_in_n_plus_1(n: int) -> None:
    moved = [sid for sid in IDS if owner(sid, n) != owner(sid, n + 1)]
    share = len(moved) / len(IDS)
    assert abs(share - 1 / (n + 1)) < 0.02, share
    # Everything that moved went to the new shard: no churn between old shards.
    assert all(owner(sid, n + 1) == n for sid in moved)


def test_select_keeps_the_rest_of_the_catalog() -> None:
    catalog = Catalog.model_validate(catalog_dict([f"http://127.0.0.1:1/{i}" for i in range(40)]))
    parts = [Shard(i, 3).select(catalog) for i in range(3)]
    ids = sorted(s.id for p in parts for s in p.services)
    assert ids == sorted(s.id for s in catalog.services)
    assert all(p.curators == catalog.curators and p.regions == catalog.regions for p in parts)


@pytest.mark.parametrize("text", ["4/4", "-1/3", "a/b", "3", "1/0", ""])
def test_bad_shard_specs_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="shard"):
        Shard.parse(text)


async def test_daemons_on_two_shards_split_the_catalog(tmp_path: Path) -> None:
    cfg = write_catalog(tmp_path / "c.yaml", catalog_dict(
        [f"http://127.0.0.1:1/{i}" for i in range(30)]))
    jobs = []
    for i in range(2):
        daemon = Daemon(DaemonOptions(config=cfg, port=0, shard=Shard(i, 2)))
        await daemon.start()
        jobs.append(set(daemon.scheduler.jobs))
        assert daemon.catalog is not None
        assert len(daemon.catalog.services) == len(jobs[-1])
        await daemon.stop()
    assert jobs[0].isdisjoint(jobs[1])
    assert len(jobs[0] | jobs[1]) == 30
    assert jobs[0] and jobs[1]
