"""`requireSignedApprovals: true` with OpenPGP: an approval commit signed with GPG counts
when its key is one of the approver's `signingKeys` (an armored public key) in the base
revision; git verifies it against a throw-away keyring built from the base's people."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def gpg_repo(new_repo: Any, kit: Any, gpg_keys: Any, ssh_keys: Any) -> Any:
    """The base requires signed approvals; bob has an OpenPGP and an SSH key, carol an
    OpenPGP key; alice has requested."""
    return kit.require_signatures(
        new_repo(),
        {
            "bob": [ssh_keys("bob").public, gpg_keys("bob").public],
            "carol": [gpg_keys("carol").public],
        },
    )


def _bob_approves_by_hand(repo: Any, kit: Any, key: Any = None) -> str:
    return repo.commit("bob", "approve", files=kit.bobs_approval_by_hand(repo), gpg_key=key)


def test_person_with_an_armored_openpgp_key_is_valid(gpg_repo: Any) -> None:
    result = gpg_repo.cli(
        "validate",
        str(gpg_repo.path / "policies/bob.yaml"),
        str(gpg_repo.path / "policies/carol.yaml"),
        "--format",
        "json",
    )

    assert result.exit_code == 0, result.stdout + result.stderr


def test_approval_signed_with_the_approvers_gpg_key_passes(
    gpg_repo: Any, kit: Any, gpg_keys: Any
) -> None:
    sha = _bob_approves_by_hand(gpg_repo, kit, gpg_keys("bob"))
    assert "-----BEGIN PGP SIGNATURE-----" in gpg_repo.git("cat-file", "commit", sha)

    code, report = gpg_repo.gate()

    assert code == 0, report["findings"]
    assert report["changes"][0]["approvals"][0]["trusted"] is True


def test_unsigned_approval_does_not_count(gpg_repo: Any, kit: Any) -> None:
    sha = _bob_approves_by_hand(gpg_repo, kit)

    code, report = gpg_repo.gate()

    assert code == 1
    assert (
        f"signatures are required but {sha[:10]} is not validly signed"
        in kit.one(report, "gate.approval.untrusted")["message"]
    )
    assert "change-managers: bob, carol" in kit.one(report, "gate.approval.missing")["message"]


def test_approval_signed_with_an_unknown_gpg_key_does_not_count(
    gpg_repo: Any, kit: Any, gpg_keys: Any
) -> None:
    sha = _bob_approves_by_hand(gpg_repo, kit, gpg_keys("stranger"))

    code, report = gpg_repo.gate()

    assert code == 1
    message = kit.one(report, "gate.approval.untrusted")["message"]
    assert f"{sha[:10]} is not validly signed" in message
    assert "signed with an OpenPGP key that is in no signingKeys" in message
    assert "gate.approval.missing" in kit.codes(report)


def test_approval_signed_with_another_persons_gpg_key_does_not_count(
    gpg_repo: Any, kit: Any, gpg_keys: Any
) -> None:
    sha = _bob_approves_by_hand(gpg_repo, kit, gpg_keys("carol"))

    code, report = gpg_repo.gate()

    assert code == 1
    assert (
        f"{sha[:10]} is signed by OpenPGP key {gpg_keys('carol').fingerprint} (carol), "
        "not by bob" in kit.one(report, "gate.approval.untrusted")["message"]
    )
    assert "gate.approval.missing" in kit.codes(report)


def test_approve_signs_with_the_configured_gpg_key_and_passes(
    gpg_repo: Any, kit: Any, gpg_keys: Any
) -> None:
    result = gpg_repo.approve(kit.CHANGE_ID, as_="carol", env=gpg_keys("carol").signing_env())

    assert result.exit_code == 0, result.stderr
    assert "(signed)" in result.stdout
    assert "-----BEGIN PGP SIGNATURE-----" in gpg_repo.git("cat-file", "commit", "HEAD")
    code, report = gpg_repo.gate()
    assert code == 0, report["findings"]


def test_ssh_and_gpg_keys_of_one_person_both_count(gpg_repo: Any, kit: Any, ssh_keys: Any) -> None:
    text = gpg_repo.edit(
        kit.CHANGE_PATH,
        "  status: submitted",
        "  approvals:\n"
        "    - {by: bob, at: 2026-11-22T09:00:00Z, decision: approve}\n"
        "  status: submitted",
    )
    gpg_repo.commit(
        "bob", "approve", files={kit.CHANGE_PATH: text}, sign_key=ssh_keys("bob").private
    )

    code, report = gpg_repo.gate()

    assert code == 0, report["findings"]


def test_branch_swapping_in_its_own_gpg_key_is_judged_by_the_base_keys(
    gpg_repo: Any, kit: Any, gpg_keys: Any
) -> None:
    """alice puts her OpenPGP key under bob's name on the branch and signs a forged
    approval with it."""
    gpg_repo.commit(
        "alice",
        "rotate bob's key",
        files={"policies/bob.yaml": kit.person_yaml("bob", [gpg_keys("alice").public])},
    )
    _bob_approves_by_hand(gpg_repo, kit, gpg_keys("alice"))

    code, report = gpg_repo.gate()

    assert code == 1
    assert "is not validly signed" in kit.one(report, "gate.approval.untrusted")["message"]
    assert "gate.governance-edit" in kit.codes(report)
