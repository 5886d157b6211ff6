"""The gate answers "who depends on this CI" from the verdict cache that a `validate` of
the same tree left (the CI recipe runs validate, then gate), instead of searching every
blob with git grep. Both ways must give the same verdict, also when the cache is of
another tree, and when the branch drops a dependency to dodge the service owner."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.gate.conftest import NOW


def _gate(repo: Any, *, cache: bool) -> tuple[int, dict[str, Any]]:
    result = repo.cli(
        "gate",
        "--base",
        "main",
        "--format",
        "json",
        "--now",
        NOW,
        env=None if cache else {"CMDBCTL_NO_CACHE": "1"},
    )
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)


def _gates(repo: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The gate's report searching blobs, then using the index of a fresh validate."""
    code, searched = _gate(repo, cache=False)
    validated = repo.cli("validate", "--format", "json")
    assert validated.exit_code in (0, 1), validated.stderr
    assert list((repo.path / ".git" / "cmdbctl").glob("cache-*.sqlite"))
    indexed_code, indexed = _gate(repo, cache=True)
    assert indexed_code == code
    return searched, indexed


def test_indexed_and_searched_gates_agree(requested: Any) -> None:
    searched, indexed = _gates(requested)

    assert indexed == searched
    assert searched["changes"][0]["affectedServices"] == ["shop"]


@pytest.mark.parametrize("edge", ["runsOn: [app-01]", "dependsOn: [shop-web]"])
def test_dropping_an_edge_on_the_branch_still_counts_it_indexed(
    edge: str, requested: Any, kit: Any
) -> None:
    path = "inventory/shop-web.yaml" if "runsOn" in edge else "inventory/shop.yaml"
    dropped = edge.split(":")[0] + ": []"
    requested.commit("alice", f"drop {edge}", files={path: requested.edit(path, edge, dropped)})

    searched, indexed = _gates(requested)

    assert indexed == searched
    assert searched["changes"][0]["affectedServices"] == ["shop"]


def test_cache_of_another_tree_is_only_a_partial_index(requested: Any, kit: Any) -> None:
    requested.checkout("main")
    validated = requested.cli("validate", "--format", "json")  # indexes main's blobs
    assert validated.exit_code in (0, 1), validated.stderr
    requested.checkout("feature")
    # a new dependent on the branch: only the branch's version of the file knows it
    requested.commit(
        "alice",
        "the shop's reports run on app-01 too",
        files={
            "inventory/shop-reports.yaml": requested.read("inventory/shop-web.yaml")
            .replace("id: shop-web", "id: shop-reports")
            .replace("name: ", "name: Reports of ")
        },
    )

    assert _gate(requested, cache=True) == _gate(requested, cache=False)


def test_approve_reads_dependents_from_the_cache_too(repo: Any, kit: Any) -> None:
    """High risk: two change managers and an owner of the affected service (shop, found
    through app-01 → shop-web → shop). With the index, approve must find shop as well."""
    repo.commit(
        "alice",
        "request",
        files={
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            ),
            kit.CHANGE_PATH: kit.change_yaml(risk="high"),
        },
    )
    assert repo.cli("validate", "--format", "json").exit_code == 0

    assert "(submitted → submitted)" in repo.approve(kit.CHANGE_ID, as_="bob").stdout
    assert "(submitted → approved)" in repo.approve(kit.CHANGE_ID, as_="carol").stdout
    code, report = _gate(repo, cache=True)
    assert code == 0, report["findings"]
    assert report["changes"][0]["affectedServices"] == ["shop"]
