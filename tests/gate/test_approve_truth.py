"""`cmdbctl approve` tells the truth: it refuses an approval the gate would not count
(from outside the groups and owners the rules ask for, committed by someone else, unsigned
where signatures are required), leaves nothing behind when git cannot sign, records a
rejection by any person with a note when it will not count, and names a change request
that does not parse as such."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

# What a failed `git commit` may leave in .git that is no state of the repository: the
# scratch message, the unreachable blob `git add` wrote, the index file's bytes (its
# entries are compared through `git ls-files --stage` instead).
GIT_SCRATCH = (".git/cmdbctl", ".git/objects", ".git/index", ".git/COMMIT_EDITMSG")


def _state(repo: Any, snapshot: Any) -> tuple[Any, ...]:
    """Everything a user could see changed: files (bytes, modes, times), refs, reflogs,
    HEAD, config, the index's entries and what git status says."""
    return (
        snapshot(repo.path, ignore=GIT_SCRATCH),
        repo.git("ls-files", "--stage"),
        repo.git("status", "--porcelain", "--untracked-files=all"),
        repo.git("for-each-ref"),
        repo.head(),
    )


def _ssh_signing(key_path: Any) -> dict[str, str]:
    return {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "gpg.format",
        "GIT_CONFIG_VALUE_0": "ssh",
        "GIT_CONFIG_KEY_1": "user.signingkey",
        "GIT_CONFIG_VALUE_1": str(key_path),
    }


# --- who the rules ask for -------------------------------------------------------------


def test_approval_by_someone_the_rules_do_not_ask_for_is_refused(
    requested: Any, kit: Any, snapshot: Any
) -> None:
    before = _state(requested, snapshot)

    result = requested.approve(kit.CHANGE_ID, as_="dave")

    assert result.exit_code == 2, result.stdout
    assert (
        "dave is in no group and among no owners whose approval CHG-2026-0042 needs: "
        "rule normal asks change-managers (bob, carol)" in result.stderr
    )
    assert "read from main, as the gate reads its base" in result.stderr
    assert "the gate would not count this approval" in result.stderr
    assert "hint: ask one of them to run `cmdbctl approve CHG-2026-0042`" in result.stderr
    assert _state(requested, snapshot) == before


def test_group_membership_is_read_from_the_default_branch(requested: Any, kit: Any) -> None:
    """The branch makes dave a change manager; main, where the gate's base is, does not."""
    requested.commit(
        "alice",
        "dave helps out",
        files={
            "policies/change-managers.yaml": requested.edit(
                "policies/change-managers.yaml",
                "members: [bob, carol]",
                "members: [bob, carol, dave]",
            )
        },
    )
    head = requested.head()

    result = requested.approve(kit.CHANGE_ID, as_="dave")

    assert result.exit_code == 2
    assert "rule normal asks change-managers (bob, carol)" in result.stderr
    assert requested.head() == head


def test_an_owner_the_rules_ask_for_may_approve(new_repo: Any, kit: Any) -> None:
    """A high-risk change needs an owner of the affected services: dave owns the shop."""
    repo = new_repo({"policies/dave.yaml": kit.person_yaml("dave")})
    repo.checkout("main")
    repo.commit(
        "carol",
        "dave owns the shop",
        files={
            "inventory/shop.yaml": repo.edit(
                "inventory/shop.yaml", "owner: team-ops", "owner: dave"
            )
        },
    )
    repo.git("branch", "--force", "feature")
    repo.checkout("feature")
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

    result = repo.approve(kit.CHANGE_ID, as_="dave")

    assert result.exit_code == 0, result.stderr
    assert "dave approved CHG-2026-0042 (submitted → submitted)" in result.stdout
    assert "{by: dave," in repo.read(kit.CHANGE_PATH)


def test_rejection_by_someone_outside_the_groups_is_recorded_with_a_note(
    requested: Any, kit: Any
) -> None:
    result = requested.approve(kit.CHANGE_ID, "--reject", "-m", "the shop is down then", as_="dave")

    assert result.exit_code == 0, result.stderr
    assert "dave rejected CHG-2026-0042 (submitted → rejected)" in result.stdout
    assert (
        "cmdbctl: note: dave is in no group and among no owners whose approval "
        "CHG-2026-0042 needs" in result.stderr
    )
    assert "the rejection is recorded all the same" in result.stderr
    text = requested.read(kit.CHANGE_PATH)
    assert "decision: reject, comment: the shop is down then}" in text
    assert "status: rejected" in text
    assert requested.git("log", "-1", "--format=%ae %ce").split() == [
        "dave@example.com",
        "dave@example.com",
    ]


def test_approval_by_an_author_of_the_change_says_it_will_not_count(repo: Any, kit: Any) -> None:
    repo.commit(
        "bob",
        "more memory",
        files={
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            )
        },
    )
    repo.commit("alice", "request", files={kit.CHANGE_PATH: kit.change_yaml()})

    result = repo.approve(kit.CHANGE_ID, as_="bob")

    assert result.exit_code == 0, result.stderr
    assert "(submitted → submitted)" in result.stdout
    assert (
        "cmdbctl: note: this approval will not count: bob authored commits of "
        "CHG-2026-0042 (separation of duties)" in result.stderr
    )


def test_rejection_by_an_author_of_the_change_says_it_will_not_count(repo: Any, kit: Any) -> None:
    repo.commit(
        "bob",
        "more memory",
        files={
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            )
        },
    )
    repo.commit("alice", "request", files={kit.CHANGE_PATH: kit.change_yaml()})

    result = repo.approve(kit.CHANGE_ID, "--reject", as_="bob")

    assert result.exit_code == 0, result.stderr
    assert (
        "this rejection will not count: bob authored commits of CHG-2026-0042 "
        "(separation of duties); it is recorded all the same" in result.stderr
    )


# --- author and committer --------------------------------------------------------------


def test_approval_that_git_would_commit_as_someone_else_is_refused(
    requested: Any, kit: Any, snapshot: Any
) -> None:
    before = _state(requested, snapshot)

    result = requested.approve(
        kit.CHANGE_ID,
        as_="bob",
        env={"GIT_COMMITTER_NAME": "Alice Example", "GIT_COMMITTER_EMAIL": "alice@example.com"},
    )

    assert result.exit_code == 2
    assert (
        "git would record bob@example.com as author but alice@example.com as "
        "committer; the gate trusts a decision only when bob both authored and "
        "committed it" in result.stderr
    )
    assert "hint: unset GIT_COMMITTER_NAME and GIT_COMMITTER_EMAIL" in result.stderr
    assert "bob@example.com" in result.stderr.split("hint:")[1]
    assert _state(requested, snapshot) == before


def test_committer_from_git_config_is_judged_too(requested: Any, kit: Any) -> None:
    """Without GIT_COMMITTER_EMAIL git takes user.email for the committer."""
    requested.git("config", "user.email", "carol@example.com")
    requested.git("config", "user.name", "Carol Example")

    result = requested.approve(
        kit.CHANGE_ID, as_="bob", env={"GIT_COMMITTER_NAME": None, "GIT_COMMITTER_EMAIL": None}
    )

    assert result.exit_code == 2
    assert "but carol@example.com as committer" in result.stderr


def test_committer_with_another_of_the_approvers_emails_is_the_approver(
    new_repo: Any, kit: Any
) -> None:
    repo = new_repo(
        {
            "policies/bob.yaml": kit.person_yaml("bob").replace(
                "emails: [bob@example.com]", "emails: [bob@example.com, bob@ops.example.com]"
            )
        }
    )
    repo.commit(
        "alice",
        "request",
        files={
            "inventory/app-01.yaml": repo.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            ),
            kit.CHANGE_PATH: kit.change_yaml(),
        },
    )

    result = repo.approve(
        kit.CHANGE_ID, as_="bob", env={"GIT_COMMITTER_EMAIL": "Bob@Ops.example.com"}
    )

    assert result.exit_code == 0, result.stderr
    assert "(submitted → approved)" in result.stdout


# --- signatures ------------------------------------------------------------------------


@pytest.fixture
def signed_repo(new_repo: Any, kit: Any, ssh_keys: Any) -> Any:
    """The base requires signed approvals and lists bob's key; carol has none."""
    return kit.require_signatures(new_repo(), {"bob": [ssh_keys("bob").public]})


def test_signature_git_cannot_make_leaves_nothing_behind(
    signed_repo: Any, kit: Any, snapshot: Any, tmp_path: Any
) -> None:
    before = _state(signed_repo, snapshot)
    missing = tmp_path / "no-such-key"

    result = signed_repo.approve(kit.CHANGE_ID, as_="bob", env=_ssh_signing(missing))

    assert result.exit_code == 2
    assert (
        "could not make the signed commit (the policy requires signed approvals) with "
        f"gpg.format=ssh, user.signingkey={missing}: git commit failed: " in result.stderr
    )
    hint = result.stderr.split("hint:")[1]
    assert "git config user.signingkey" in hint and "gpg.format ssh" in hint
    assert _state(signed_repo, snapshot) == before


def test_sign_asked_for_that_git_cannot_make_leaves_nothing_behind(
    requested: Any, kit: Any, snapshot: Any, tmp_path: Any
) -> None:
    before = _state(requested, snapshot)

    result = requested.approve(
        kit.CHANGE_ID, "--sign", as_="bob", env=_ssh_signing(tmp_path / "no-such-key")
    )

    assert result.exit_code == 2
    assert "could not make the signed commit (--sign) with gpg.format=ssh" in result.stderr
    assert _state(requested, snapshot) == before


def test_signed_approval_verifies_against_the_approvers_key(
    signed_repo: Any, kit: Any, ssh_keys: Any, tmp_path: Any
) -> None:
    result = signed_repo.approve(
        kit.CHANGE_ID, as_="bob", env=_ssh_signing(ssh_keys("bob").private)
    )

    assert result.exit_code == 0, result.stderr
    assert result.stdout.rstrip().endswith("(signed)")
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'bob@example.com namespaces="git" {ssh_keys("bob").public}\n')
    signed_repo.git("-c", f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", "HEAD")


def test_approval_by_someone_without_signing_keys_is_refused_where_signatures_are_required(
    signed_repo: Any, kit: Any, ssh_keys: Any
) -> None:
    head = signed_repo.head()

    result = signed_repo.approve(
        kit.CHANGE_ID, as_="carol", env=_ssh_signing(ssh_keys("carol").private)
    )

    assert result.exit_code == 2
    assert (
        "the policy requires signed approvals but carol has no signingKeys in "
        "policies/ (read from main" in result.stderr
    )
    assert signed_repo.head() == head


# --- the change request itself ---------------------------------------------------------


def test_change_request_that_does_not_parse_is_named_as_unparseable(
    requested: Any, kit: Any
) -> None:
    broken = requested.read(kit.CHANGE_PATH).replace("  targets: [app-01]", "  targets: [app-01")
    requested.commit("alice", "oops", files={kit.CHANGE_PATH: broken})

    result = requested.approve(kit.CHANGE_ID, as_="bob")

    assert result.exit_code == 2
    assert (
        f"cmdbctl: error: {kit.CHANGE_PATH} (change request CHG-2026-0042) cannot be "
        "parsed (yaml." in result.stderr
    )
    assert f"hint: run `cmdbctl validate {kit.CHANGE_PATH}` and fix it first" in result.stderr
    assert "no change request" not in result.stderr


def test_change_request_that_does_not_validate_says_so(requested: Any, kit: Any) -> None:
    invalid = requested.read(kit.CHANGE_PATH).replace("  requester: alice\n", "")
    requested.commit("alice", "oops", files={kit.CHANGE_PATH: invalid})

    result = requested.approve(kit.CHANGE_ID, as_="bob")

    assert result.exit_code == 2
    assert f"{kit.CHANGE_PATH} is a ChangeRequest that does not validate" in result.stderr
    assert f"cmdbctl validate {kit.CHANGE_PATH}" in result.stderr


def test_unknown_change_is_still_reported_as_missing(requested: Any) -> None:
    result = requested.approve("CHG-2026-9999", as_="bob")

    assert result.exit_code == 2
    assert "no change request CHG-2026-9999 under changes/" in result.stderr


def test_help_says_what_is_refused(requested: Any) -> None:
    result = requested.cli("approve", "--help")

    assert result.exit_code == 0
    assert "GIT_COMMITTER_EMAIL" in result.stdout
    assert "the gate would not count" in result.stdout


def test_git_itself_agrees_the_approval_is_bobs_own(requested: Any, kit: Any) -> None:
    result = requested.approve(kit.CHANGE_ID, as_="bob")

    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # nothing to note
    shown = subprocess.run(
        ["git", "log", "-1", "--format=%an <%ae>|%cn <%ce>"],
        cwd=requested.path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == "Bob Example <bob@example.com>|Bob Example <bob@example.com>"


def test_commit_git_refuses_leaves_nothing_behind(requested: Any, kit: Any, snapshot: Any) -> None:
    """A pre-commit hook that says no: git's message, the file and index as they were."""
    hook = requested.path / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'error: not today' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = _state(requested, snapshot)

    result = requested.approve(kit.CHANGE_ID, as_="bob")

    assert result.exit_code == 2
    assert "git commit failed: error: not today" in result.stderr
    assert "signingkey" not in result.stderr  # nothing was to be signed
    assert _state(requested, snapshot) == before
