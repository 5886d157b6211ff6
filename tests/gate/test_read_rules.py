"""`read_rules`: the standard change catalogue and the policy's own problems, read from
a base revision of a real repository written by `cmdbctl init`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cmdbctl import gitio
from cmdbctl.gate.policy import Rules, read_rules
from cmdbctl.models import StandardChangeSpec
from cmdbctl.revision import Snapshot


def _rules(repo: Any, rev: str = "main") -> Rules:
    with gitio.BlobReader(repo.path) as blobs:
        sha = gitio.resolve(repo.path, rev)
        return read_rules(Snapshot(repo.path, sha, blobs, folders=["policies"]))


def _model(id_: str, spec: str) -> str:
    return f"apiVersion: cmdb/v1\nkind: StandardChange\nmetadata:\n  id: {id_}\nspec:\n{spec}"


def test_the_scaffold_catalogue_and_one_policy(repo: Any) -> None:
    rules = _rules(repo)

    assert rules.models == {
        "os-patch": StandardChangeSpec(
            description="Minor OS updates from the vendor's stable channel",
            target_kinds=["Server"],
            fields=["spec.os.version"],
        )
    }
    assert rules.policy_paths == ["policies/change-policy.yaml"]
    assert [r.id for r in rules.policy.rules] == ["normal", "high-risk", "emergency", "management"]


def test_models_come_from_the_base_and_invalid_ones_grant_nothing(
    new_repo: Callable[..., Any],
) -> None:
    repo = new_repo(
        {
            "policies/models/cert.yaml": _model(
                "cert", "  targetKinds: [Application]\n  fields: [metadata.annotations]\n"
            ),
            "policies/models/broken.yaml": _model("broken", "  targetKinds: [Server]\n"),
        }
    )
    repo.commit(
        "alice",
        "a wider model on the branch",
        files={
            "policies/os-patch.yaml": repo.edit(
                "policies/os-patch.yaml", "fields: [spec.os.version]", "fields: [spec.os]"
            )
        },
    )

    rules = _rules(repo)

    assert sorted(rules.models) == ["cert", "os-patch"]
    assert rules.models["cert"].fields == ["metadata.annotations"]
    assert rules.models["os-patch"].fields == ["spec.os.version"]  # main's, not feature's
    assert _rules(repo, "feature").models["os-patch"].fields == ["spec.os"]


def test_several_change_policies_are_all_listed_and_the_first_by_path_applies(
    new_repo: Callable[..., Any],
) -> None:
    second = (
        "apiVersion: cmdb/v1\nkind: ChangePolicy\nmetadata:\n  id: {id}\n"
        "spec:\n  separationOfDuties: false\n"
    )
    repo = new_repo({"policies/a/relaxed.yaml": second.format(id="relaxed")})

    rules = _rules(repo)

    assert rules.policy_paths == ["policies/a/relaxed.yaml", "policies/change-policy.yaml"]
    assert rules.policy.separation_of_duties is False and rules.policy.rules == []

    repo = new_repo(
        {
            "policies/a/relaxed.yaml": second.format(id="relaxed"),
            "policies/zz.yaml": second.format(id="zz"),
        }
    )
    assert _rules(repo).policy_paths == [
        "policies/a/relaxed.yaml",
        "policies/change-policy.yaml",
        "policies/zz.yaml",
    ]
