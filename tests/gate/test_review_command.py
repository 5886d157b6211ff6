"""`cmdbctl review`: the post-implementation review, recorded as the reviewer's own commit
on real repositories: what it writes, who may write it, and that nothing is left behind
when it refuses or cannot sign."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from cmdbctl.loading import load  # the loader every command reads documents with

GIT_SCRATCH = (".git/cmdbctl", ".git/objects", ".git/index", ".git/COMMIT_EDITMSG")
NOTES = "checked: app-01 serves at peak # no swapping"


def _review(
    repo: Any,
    *args: str,
    as_: str = "bob",
    env: dict[str, str | None] | None = None,
    change_id: str = "CHG-2026-0042",
) -> Any:
    return repo.cli("review", change_id, *args, as_=as_, env=env)


def _ssh_signing(key_path: Any) -> dict[str, str | None]:
    return {
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "gpg.format",
        "GIT_CONFIG_VALUE_0": "ssh",
        "GIT_CONFIG_KEY_1": "user.signingkey",
        "GIT_CONFIG_VALUE_1": str(key_path),
    }


def _implement(
    repo: Any, kit: Any, approver: str = "bob", env: dict[str, str | None] | None = None
) -> str:
    """`approver` approves CHG-2026-0042, then alice (the requester) carries it out."""
    approved = repo.approve(kit.CHANGE_ID, as_=approver, env=env)
    assert approved.exit_code == 0, approved.stderr
    text = repo.read(kit.CHANGE_PATH)
    assert "status: approved" in text
    return repo.commit(
        "alice",
        f"carried out\n\nChange-Id: {kit.CHANGE_ID}",
        files={kit.CHANGE_PATH: text.replace("status: approved", "status: implemented", 1)},
    )


@pytest.fixture
def implemented(requested: Any, kit: Any) -> Any:
    """alice requested CHG-2026-0042 and carried it out; bob approved it."""
    _implement(requested, kit)
    return requested


def _state(repo: Any, snapshot: Any) -> tuple[Any, ...]:
    return (
        snapshot(repo.path, ignore=GIT_SCRATCH),
        repo.git("ls-files", "--stage"),
        repo.git("status", "--porcelain", "--untracked-files=all"),
        repo.git("for-each-ref"),
        repo.head(),
    )


def test_review_is_recorded_as_the_reviewers_own_commit(implemented: Any, kit: Any) -> None:
    before = implemented.head()

    result = _review(implemented, "--outcome", "successful", "--notes", NOTES)

    assert result.exit_code == 0, result.stderr
    assert re.fullmatch(
        r"bob reviewed CHG-2026-0042: successful \(implemented → reviewed\) "
        r"in [0-9a-f]{10}\n",
        result.stdout,
    )
    assert implemented.head(f"{implemented.head()}^") == before
    text = implemented.read(kit.CHANGE_PATH)
    # comments and layout kept; the review written as one flow map
    assert text.startswith("# Change request: keep this header comment\n")
    assert "    - drain app-01        # comment inside the plan\n" in text
    assert re.search(r"\n  status: reviewed +# draft submitted approved \.\.\.\n", text)
    review_line = next(line for line in text.splitlines() if line.startswith("  review:"))
    assert re.fullmatch(
        r"  review: \{by: bob, at: '?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"
        r"(Z|[+-]\d\d:\d\d)'?, outcome: successful, notes: .+\}",
        review_line,
    )
    # the commit: authored and committed by bob, only the change request, its message
    assert implemented.git("log", "-1", "--format=%ae %ce").split() == [
        "bob@example.com",
        "bob@example.com",
    ]
    assert implemented.git("show", "--name-only", "--format=", "HEAD").split() == [kit.CHANGE_PATH]
    assert implemented.git("log", "-1", "--format=%B") == (
        "Review CHG-2026-0042: Double memory on app-01\n\n"
        f"{NOTES}\n\n"
        "Change-Id: CHG-2026-0042\n"
        "Reviewed-by: Bob Example <bob@example.com>\n\n"
    )
    assert implemented.git("status", "--porcelain") == ""


def test_review_reads_back_as_written_and_validates_clean(
    implemented: Any, kit: Any, run_cli: Any
) -> None:
    notes = "line one: ok\nline two, 'quoted' and \"double\" # not a comment"
    assert _review(implemented, "--outcome", "failed", "--notes", notes).exit_code == 0

    result = run_cli("validate", "--format", "json", repo=implemented.path)

    report = json.loads(result.stdout)
    assert [f for f in report["findings"] if f["severity"] == "error"] == []
    assert result.exit_code == 0, report["findings"]
    spec = load(kit.CHANGE_PATH, (implemented.path / kit.CHANGE_PATH).read_bytes()).data
    assert spec is not None
    review = spec["spec"]["review"]
    assert (review["by"], review["outcome"], review["notes"]) == ("bob", "failed", notes)
    assert spec["spec"]["status"] == "reviewed"


def test_emergency_change_review_validates_clean(requested: Any, kit: Any, run_cli: Any) -> None:
    requested.commit(
        "alice",
        "it is urgent",
        files={kit.CHANGE_PATH: requested.edit(kit.CHANGE_PATH, "type: normal", "type: emergency")},
    )
    _implement(requested, kit)

    result = _review(
        requested, "--outcome", "partially-successful", "-m", "ok after a retry", as_="carol"
    )

    assert result.exit_code == 0, result.stderr
    assert "carol reviewed CHG-2026-0042: partially-successful" in result.stdout
    validated = run_cli("validate", "--format", "json", repo=requested.path)
    assert validated.exit_code == 0, validated.stdout
    assert "change.review-missing" not in validated.stdout


# --- who may review --------------------------------------------------------------------


def test_requester_cannot_review(implemented: Any, kit: Any, snapshot: Any) -> None:
    before = _state(implemented, snapshot)

    result = _review(implemented, "--outcome", "successful", "--notes", "fine", as_="alice")

    assert result.exit_code == 2
    assert (
        "alice requested CHG-2026-0042 and cannot review it (separation of duties)" in result.stderr
    )
    assert _state(implemented, snapshot) == before


def test_someone_outside_the_reviewers_cannot_review(
    implemented: Any, kit: Any, snapshot: Any
) -> None:
    before = _state(implemented, snapshot)

    result = _review(implemented, "--outcome", "successful", "--notes", "fine", as_="dave")

    assert result.exit_code == 2
    assert (
        "dave is not among the reviewers of CHG-2026-0042: change-managers (bob, carol), "
        "in policies/ (read from main, as the gate reads its base)" in result.stderr
    )
    assert "hint: ask one of them to run `cmdbctl review CHG-2026-0042`" in result.stderr
    assert _state(implemented, snapshot) == before


def test_an_author_of_the_change_cannot_review(requested: Any, kit: Any) -> None:
    requested.commit(
        "carol",
        "also more cores",
        files={
            "inventory/app-01.yaml": requested.edit(
                "inventory/app-01.yaml", "cores: 16", "cores: 32"
            )
        },
    )
    _implement(requested, kit)

    result = _review(requested, "--outcome", "successful", "--notes", "fine", as_="carol")

    assert result.exit_code == 2
    assert "carol authored commits of CHG-2026-0042 and cannot review it" in result.stderr


def test_reviewers_are_the_rules_reviewers_read_from_the_default_branch(
    new_repo: Any, kit: Any
) -> None:
    """On main the emergency rule names a CAB of dave alone; the branch tries to hand the
    review to bob by renaming the reviewers: main's policy decides."""
    group = (
        "apiVersion: cmdb/v1\nkind: Group\nmetadata:\n  id: cab\n  name: CAB\n"
        "spec:\n  members: [dave]\n"
    )
    repo = new_repo({"policies/dave.yaml": kit.person_yaml("dave"), "policies/cab.yaml": group})
    repo.checkout("main")
    repo.commit(
        "carol",
        "the CAB reviews emergencies",
        files={
            "policies/change-policy.yaml": repo.edit(
                "policies/change-policy.yaml",
                "reviewWithin: P5D",
                "reviewWithin: P5D\n      reviewers: cab",
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
            kit.CHANGE_PATH: kit.change_yaml(type_="emergency"),
        },
    )
    repo.commit(
        "alice",
        "bob reviews",
        files={
            "policies/change-policy.yaml": repo.edit(
                "policies/change-policy.yaml", "reviewers: cab", "reviewers: change-managers"
            )
        },
    )
    _implement(repo, kit)

    refused = _review(repo, "--outcome", "successful", "--notes", "fine", as_="bob")
    assert refused.exit_code == 2
    assert "bob is not among the reviewers of CHG-2026-0042: cab (dave)" in refused.stderr

    result = _review(repo, "--outcome", "successful", "--notes", "fine", as_="dave")
    assert result.exit_code == 0, result.stderr
    assert "review: {by: dave," in repo.read(kit.CHANGE_PATH)


def test_review_as_someone_else_committing_is_refused(implemented: Any, kit: Any) -> None:
    head = implemented.head()

    result = _review(
        implemented,
        "--outcome",
        "successful",
        "--notes",
        "fine",
        as_="bob",
        env={"GIT_COMMITTER_EMAIL": "alice@example.com"},
    )

    assert result.exit_code == 2
    assert "but alice@example.com as committer" in result.stderr
    assert implemented.head() == head


# --- which changes take a review -------------------------------------------------------


def test_change_that_is_not_implemented_is_refused(requested: Any, kit: Any, snapshot: Any) -> None:
    assert requested.approve(kit.CHANGE_ID, as_="bob").exit_code == 0
    before = _state(requested, snapshot)

    result = _review(requested, "--outcome", "successful", "--notes", "fine")

    assert result.exit_code == 2
    assert (
        "CHG-2026-0042 is approved; only an implemented change takes its "
        "post-implementation review" in result.stderr
    )
    assert _state(requested, snapshot) == before


def test_a_review_is_never_overwritten(implemented: Any, kit: Any, snapshot: Any) -> None:
    assert _review(implemented, "--outcome", "successful", "--notes", "fine").exit_code == 0
    before = _state(implemented, snapshot)

    result = _review(implemented, "--outcome", "failed", "--notes", "not fine", as_="carol")

    assert result.exit_code == 2
    assert "CHG-2026-0042 was already reviewed by bob at " in result.stderr
    assert "(successful); a review is a record and is never overwritten" in result.stderr
    assert _state(implemented, snapshot) == before


def test_review_of_an_implemented_change_that_has_one_already_is_refused(
    implemented: Any, kit: Any
) -> None:
    """A review typed in while the status stayed implemented is still a review."""
    implemented.commit(
        "alice",
        "typed in",
        files={
            kit.CHANGE_PATH: implemented.edit(
                kit.CHANGE_PATH,
                "  status: implemented",
                "  review: {by: carol, at: 2026-11-29T10:00:00Z, outcome: successful}\n"
                "  status: implemented",
            )
        },
    )

    result = _review(implemented, "--outcome", "successful", "--notes", "fine")

    assert result.exit_code == 2
    assert "was already reviewed by carol" in result.stderr


def test_dirty_work_tree_is_refused_and_nothing_changes(
    implemented: Any, kit: Any, snapshot: Any
) -> None:
    implemented.write(
        "inventory/app-01.yaml", implemented.edit("inventory/app-01.yaml", "cores: 16", "cores: 8")
    )
    before = snapshot(implemented.path)

    result = _review(implemented, "--outcome", "successful", "--notes", "fine")

    assert result.exit_code == 2
    assert "the work tree has uncommitted changes: inventory/app-01.yaml" in result.stderr
    assert snapshot(implemented.path) == before


def test_unknown_change_and_bad_arguments_exit_2(implemented: Any) -> None:
    unknown = _review(
        implemented, "--outcome", "successful", "--notes", "x", change_id="CHG-2026-9999"
    )
    assert unknown.exit_code == 2
    assert "no change request CHG-2026-9999 under changes/" in unknown.stderr

    no_outcome = _review(implemented, "--notes", "x")
    assert no_outcome.exit_code == 2
    assert "--outcome" in no_outcome.stderr

    bad_outcome = _review(implemented, "--outcome", "great", "--notes", "x")
    assert bad_outcome.exit_code == 2

    blank = _review(implemented, "--outcome", "successful", "--notes", "  ")
    assert blank.exit_code == 2
    assert "the review's notes are empty" in blank.stderr


# --- signatures ------------------------------------------------------------------------


def test_signed_review_verifies_with_the_reviewers_ssh_key(
    implemented: Any, kit: Any, ssh_keys: Any, tmp_path: Any
) -> None:
    bob = ssh_keys("bob")

    result = _review(
        implemented,
        "--outcome",
        "successful",
        "--notes",
        "fine",
        "--sign",
        env=_ssh_signing(bob.private),
    )

    assert result.exit_code == 0, result.stderr
    assert result.stdout.rstrip().endswith("(signed)")
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'bob@example.com namespaces="git" {bob.public}\n')
    stranger = tmp_path / "stranger_signers"
    stranger.write_text(f'bob@example.com namespaces="git" {ssh_keys("stranger").public}\n')

    def verify(signers: Any) -> int:
        return subprocess.run(
            ["git", "-c", f"gpg.ssh.allowedSignersFile={signers}", "verify-commit", "HEAD"],
            cwd=implemented.path,
            capture_output=True,
            check=False,
        ).returncode

    assert verify(allowed) == 0
    assert verify(stranger) != 0  # the signature is bob's key's, not any key's


def test_review_is_signed_when_the_policy_requires_signed_approvals(
    new_repo: Any, kit: Any, ssh_keys: Any
) -> None:
    repo = kit.require_signatures(
        new_repo(), {"bob": [ssh_keys("bob").public], "carol": [ssh_keys("carol").public]}
    )
    _implement(repo, kit, env=_ssh_signing(ssh_keys("bob").private))

    result = _review(
        repo,
        "--outcome",
        "successful",
        "--notes",
        "fine",
        as_="carol",
        env=_ssh_signing(ssh_keys("carol").private),
    )

    assert result.exit_code == 0, result.stderr
    assert "(signed)" in result.stdout
    assert "-----BEGIN SSH SIGNATURE-----" in repo.git("cat-file", "commit", "HEAD")


def test_review_that_cannot_be_signed_leaves_nothing_behind(
    implemented: Any, kit: Any, snapshot: Any, tmp_path: Any
) -> None:
    before = _state(implemented, snapshot)
    missing = tmp_path / "no-such-key"

    result = _review(
        implemented,
        "--outcome",
        "successful",
        "--notes",
        "fine",
        "--sign",
        env=_ssh_signing(missing),
    )

    assert result.exit_code == 2
    assert (
        f"could not make the signed commit (--sign) with gpg.format=ssh, "
        f"user.signingkey={missing}: git commit failed: " in result.stderr
    )
    assert "git config user.signingkey" in result.stderr
    assert _state(implemented, snapshot) == before


def test_help_shows_examples(requested: Any, run_cli: Any) -> None:
    result = requested.cli("review", "--help")

    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    assert "cmdbctl review CHG-2026-0042 --outcome successful --notes" in result.stdout
    assert re.search(r"\n  review +Record the post-implementation review", run_cli("--help").stdout)
