"""`cmdbctl init`: a new CMDB repository with schemas, policies, examples and CI wiring.

The templates live in `cmdbctl/scaffold/` (a leading `dot-` in a name becomes `.`, so
packaging keeps them) and the schemas are the ones the package ships. `@CMDBCTL_VERSION@`
in a template becomes this cmdbctl's version, so the CI workflow installs the release
that wrote it.

Nothing is lost: init checks that git runs before it writes anything, never overwrites
a file, and when it fails half way removes exactly what it created (files, folders,
`.git`), never anything that was there before.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from cmdbctl import __version__, gitio
from cmdbctl.errors import CommandError
from cmdbctl.kinds import builtin_schema_files

VERSION_MARK = b"@CMDBCTL_VERSION@"
CI_FOLDER = ".github"


@dataclass(frozen=True)
class InitResult:
    root: Path
    written: list[str]
    git_initialised: bool
    # The top of the git work tree `root` lies below, when it is not `root` itself:
    # GitHub reads workflows only from the top's .github/.
    enclosing_top: Path | None = None


def _templates() -> dict[str, bytes]:
    files: dict[str, bytes] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            name = (
                child.name.replace("dot-", ".", 1) if child.name.startswith("dot-") else child.name
            )
            if child.is_dir():
                walk(child, f"{prefix}{name}/")
            elif not name.endswith((".pyc",)):
                files[f"{prefix}{name}"] = child.read_bytes().replace(
                    VERSION_MARK, __version__.encode()
                )

    walk(resources.files("cmdbctl") / "scaffold", "")
    for name, content in builtin_schema_files().items():
        files[f"schemas/{name}"] = content
    return files


def _existing_folder(target: Path) -> Path:
    """`target`, or the nearest of its parents that exists."""
    absolute = target.absolute()
    return next(p for p in (absolute, *absolute.parents) if p.is_dir())


def _git_top(folder: Path) -> Path | None:
    """The top of the git work tree around `folder`; None when it is in none."""
    if not gitio.is_work_tree(folder):
        return None
    top = gitio.output(folder, "rev-parse", "--show-toplevel")
    return Path(top.decode("utf-8", "surrogateescape").strip()) if top else None


def _clashes(target: Path, files: dict[str, bytes]) -> list[str]:
    """What is in the way: a file init would write, or a file where it needs a folder."""
    folders = {"/".join(rel.split("/")[:n]) for rel in files for n in range(1, rel.count("/") + 1)}
    return sorted(
        {rel for rel in files if (target / rel).exists()}
        | {f for f in folders if (target / f).exists() and not (target / f).is_dir()}
    )


class _Undo:
    """What init created, so that a failure removes exactly that and nothing else."""

    def __init__(self) -> None:
        self.folders: list[Path] = []
        self.files: list[Path] = []
        self.git_dir: Path | None = None

    def make_folder(self, folder: Path) -> None:
        """`mkdir -p folder`, remembering every folder it made."""
        missing = []
        for path in (folder, *folder.parents):
            if path.is_dir():
                break
            missing.append(path)
        for path in reversed(missing):
            path.mkdir()  # FileExistsError when a file is in the way: init fails, undone
            self.folders.append(path)

    def write(self, path: Path, content: bytes) -> None:
        with open(path, "xb") as handle:  # "x": fail rather than overwrite a racing file
            self.files.append(path)
            handle.write(content)

    def undo(self) -> None:
        if self.git_dir is not None:
            shutil.rmtree(self.git_dir, ignore_errors=True)
        for path in reversed(self.files):
            path.unlink(missing_ok=True)
        for path in reversed(self.folders):  # deepest first; one holding others' files stays
            try:
                path.rmdir()
            except OSError:
                pass


def init_repository(target: Path) -> InitResult:
    """Write a new repository into `target`; refuse to overwrite anything."""
    if target.exists() and not target.is_dir():
        raise CommandError(f"{target} exists and is not a directory")
    around = _existing_folder(target)
    # git first: files written without the `git init` they need would refuse a rerun.
    gitio.run(around, "--version")
    top = _git_top(around)
    files = _templates()
    clashes = _clashes(target, files)
    if clashes:
        raise CommandError(
            f"{target} already has {', '.join(clashes[:5])}"
            + (f" and {len(clashes) - 5} more" if len(clashes) > 5 else "")
            + "; cmdbctl init never overwrites files",
            "choose an empty or new directory",
        )
    created = _Undo()
    try:
        for rel, content in sorted(files.items()):
            path = target / rel
            created.make_folder(path.parent)
            created.write(path, content)
        if top is None:
            git_dir = target / ".git"
            if not git_dir.exists() and not git_dir.is_symlink():
                created.git_dir = git_dir
            gitio.init(target)
    except OSError as exc:
        created.undo()
        raise CommandError(
            f"cannot write {exc.filename or target}: {exc.strerror or exc}",
            "nothing was left behind; fix that and run cmdbctl init again",
        ) from exc
    except BaseException:
        created.undo()
        raise
    enclosing = top if top is not None and top.resolve() != target.resolve() else None
    return InitResult(target, sorted(files), top is None, enclosing)
