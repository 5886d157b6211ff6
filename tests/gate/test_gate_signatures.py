"""`requireSignedApprovals: true`: an approval counts only when its commit carries a valid
SSH signature by one of the approver's `signingKeys` in the base revision."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def signed_repo(new_repo: Any, kit: Any, ssh_keys: Any) -> Any:
    """The base requires signed approvals; bob and carol have keys; alice has requested."""
    return kit.require_signatures(
        new_repo(), {"bob": [ssh_keys("bob").public], "carol": [ssh_keys("carol").public]}
    )


def _bob_approves_by_hand(repo: Any, kit: Any, key: Any = None) -> str:
    return repo.commit(
        "bob",
        "approve",
        files=kit.bobs_approval_by_hand(repo),
        sign_key=key.private if key else None,
    )


def _signing_env(key: Any) -> dict[str, str]:
    return {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "gpg.format",
        "GIT_CONFIG_VALUE_0": "ssh",
        "GIT_CONFIG_KEY_1": "user.signingkey",
        "GIT_CONFIG_VALUE_1": str(key.private),
    }


def test_unsigned_approval_does_not_count(signed_repo: Any, kit: Any) -> None:
    sha = _bob_approves_by_hand(signed_repo, kit)

    code, report = signed_repo.gate()

    assert code == 1
    untrusted = kit.one(report, "gate.approval.untrusted")
    assert f"signatures are required but {sha[:10]} is not validly signed" in untrusted["message"]
    assert "change-managers: bob, carol" in kit.one(report, "gate.approval.missing")["message"]


def test_approval_signed_with_an_unknown_key_does_not_count(
    signed_repo: Any, kit: Any, ssh_keys: Any
) -> None:
    sha = _bob_approves_by_hand(signed_repo, kit, ssh_keys("stranger"))
    assert "-----BEGIN SSH SIGNATURE-----" in signed_repo.git("cat-file", "commit", sha)

    code, report = signed_repo.gate()

    assert code == 1
    assert (
        f"{sha[:10]} is not validly signed" in kit.one(report, "gate.approval.untrusted")["message"]
    )
    assert "gate.approval.missing" in kit.codes(report)


def test_approval_signed_with_another_persons_key_does_not_count(
    signed_repo: Any, kit: Any, ssh_keys: Any
) -> None:
    sha = _bob_approves_by_hand(signed_repo, kit, ssh_keys("carol"))

    code, report = signed_repo.gate()

    assert code == 1
    assert (
        f"{sha[:10]} is signed by carol@example.com, not by bob"
        in kit.one(report, "gate.approval.untrusted")["message"]
    )
    assert "gate.approval.missing" in kit.codes(report)


def test_approval_signed_with_the_approvers_key_passes(
    signed_repo: Any, kit: Any, ssh_keys: Any
) -> None:
    _bob_approves_by_hand(signed_repo, kit, ssh_keys("bob"))

    code, report = signed_repo.gate()

    assert code == 0, report["findings"]
    assert report["changes"][0]["approvals"][0]["trusted"] is True


def test_approve_signs_with_the_configured_ssh_key_and_passes(
    signed_repo: Any, kit: Any, ssh_keys: Any
) -> None:
    result = signed_repo.approve(
        kit.CHANGE_ID, "--sign", as_="bob", env=_signing_env(ssh_keys("bob"))
    )

    assert result.exit_code == 0, result.stderr
    assert "(signed)" in result.stdout
    assert "-----BEGIN SSH SIGNATURE-----" in signed_repo.git("cat-file", "commit", "HEAD")
    code, report = signed_repo.gate()
    assert code == 0, report["findings"]


def test_approve_signs_when_the_policy_requires_it_even_without_sign(
    signed_repo: Any, kit: Any, ssh_keys: Any
) -> None:
    result = signed_repo.approve(kit.CHANGE_ID, as_="bob", env=_signing_env(ssh_keys("bob")))

    assert result.exit_code == 0, result.stderr
    assert "(signed)" in result.stdout
    assert signed_repo.gate()[0] == 0


def test_approve_that_cannot_sign_leaves_the_repository_as_it_was(
    signed_repo: Any, kit: Any, tmp_path: Any
) -> None:
    before = signed_repo.read(kit.CHANGE_PATH)
    head = signed_repo.head()
    missing_key = tmp_path / "no-such-key"

    result = signed_repo.approve(
        kit.CHANGE_ID,
        as_="bob",
        env={
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "gpg.format",
            "GIT_CONFIG_VALUE_0": "ssh",
            "GIT_CONFIG_KEY_1": "user.signingkey",
            "GIT_CONFIG_VALUE_1": str(missing_key),
        },
    )

    assert result.exit_code == 2
    assert "git commit failed" in result.stderr
    assert signed_repo.read(kit.CHANGE_PATH) == before
    assert signed_repo.head() == head
    assert signed_repo.git("status", "--porcelain") == ""


def test_branch_swapping_in_its_own_signing_key_is_judged_by_the_base_keys(
    signed_repo: Any, kit: Any, ssh_keys: Any
) -> None:
    """alice puts her key under bob's name on the branch and signs a forged approval."""
    signed_repo.commit(
        "alice",
        "rotate bob's key",
        files={"policies/bob.yaml": kit.person_yaml("bob", [ssh_keys("alice").public])},
    )
    text = signed_repo.edit(
        kit.CHANGE_PATH,
        "  status: submitted",
        "  approvals:\n"
        "    - {by: bob, at: 2026-11-22T09:00:00Z, decision: approve}\n"
        "  status: submitted",
    )
    signed_repo.commit(
        "bob", "approve", files={kit.CHANGE_PATH: text}, sign_key=ssh_keys("alice").private
    )

    code, report = signed_repo.gate()

    assert code == 1
    assert "is not validly signed" in kit.one(report, "gate.approval.untrusted")["message"]
    assert "gate.governance-edit" in kit.codes(report)
