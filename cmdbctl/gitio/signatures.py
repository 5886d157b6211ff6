"""Commit signatures checked by git's own machinery (`verify-commit`): SSH signatures
against an allowed-signers file, OpenPGP ones against keys imported into a throw-away
GnuPG home."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cmdbctl.gitio.process import complete


@dataclass(frozen=True, slots=True)
class Signature:
    good: bool
    principal: str | None  # SSH: the allowed-signers principal (an email) that signed
    detail: str
    fingerprint: str | None = None  # OpenPGP: the primary key fingerprint that signed


def gpg_home(home: Path) -> None:
    """Make `home` (a fresh, private folder) a throw-away GnuPG home: every key in it is
    one we imported on purpose (so trusted), and no agent is started for it."""
    (home / "gpg.conf").write_text("trust-model always\nno-autostart\n")


def gpg_import(home: Path, armored: str) -> frozenset[str]:
    """Import armored OpenPGP public keys into `home`; the primary fingerprints imported
    (none when gpg is not installed or the text holds no key)."""
    try:
        proc = complete(
            None,
            ["--homedir", str(home), "--batch", "--no-tty", "--status-fd", "1", "--import"],
            armored.encode(),
            program="gpg",
        )
    except FileNotFoundError:
        return frozenset()
    return frozenset(
        line.split()[3]
        for line in proc.stdout.decode("ascii", "replace").splitlines()
        if line.startswith("[GNUPG:] IMPORT_OK ")
    )


# gpg's status words for a signature that does not verify, in the words we report.
_GPG_PROBLEMS = {
    "NO_PUBKEY": "signed with an OpenPGP key that is in no signingKeys",
    "BADSIG": "bad OpenPGP signature",
    "EXPKEYSIG": "expired OpenPGP key",
    "REVKEYSIG": "revoked OpenPGP key",
    "EXPSIG": "expired OpenPGP signature",
}


def verify_commit(
    root: Path, sha: str, allowed_signers: Path, gnupghome: Path | None = None
) -> Signature:
    """Verify a commit's signature with git's own machinery: SSH signatures against an
    allowed-signers file, OpenPGP signatures against the keys in `gnupghome`."""
    # minTrustLevel: a user's stricter setting must not refuse keys we chose to trust.
    proc = complete(
        root,
        [
            "-c",
            f"gpg.ssh.allowedSignersFile={allowed_signers}",
            "-c",
            "gpg.minTrustLevel=undefined",
            "verify-commit",
            "--raw",
            sha,
        ],
        env={"GNUPGHOME": str(gnupghome)} if gnupghome else None,
    )
    text = (proc.stderr + proc.stdout).decode("utf-8", "replace")
    principal = fingerprint = None
    detail = next(
        (line for line in text.splitlines() if line.strip() and not line.startswith("[GNUPG:]")),
        "no signature",
    )
    for line in text.splitlines():
        # ssh-keygen: 'Good "git" signature for bob@example.com with ED25519 key SHA256:...'
        if line.startswith('Good "git" signature for '):
            principal = line[len('Good "git" signature for ') :].split(" with ")[0].strip()
        # gpg: '[GNUPG:] VALIDSIG <signing key fpr> <date> ... <primary key fpr>'
        words = line.split()
        if line.startswith("[GNUPG:] VALIDSIG ") and len(words) >= 12:
            fingerprint = words[-1]
        elif words[1:2] and words[1] in _GPG_PROBLEMS and line.startswith("[GNUPG:]"):
            detail = _GPG_PROBLEMS[words[1]]
    return Signature(
        proc.returncode == 0 and (principal or fingerprint) is not None,
        principal,
        detail,
        fingerprint,
    )
