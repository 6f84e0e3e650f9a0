"""The code a run trains with: a short hash of the asyncrl package's files and one of the conf/ it
reads, and the git commit they are when git can tell.

The hashes exist for every install. An editable install (or a source tree) is its own git checkout;
a plain install (``pip install .`` into a virtualenv) keeps no git metadata, so its commit is found
by comparing its files with the checkout the command runs in (the current directory's repository):
when they are the same files, the install is that checkout's HEAD, ``-dirty`` when its working tree
differs from HEAD there. Otherwise git cannot tell and the commit is None.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

PACKAGE = Path(__file__).resolve().parent
HASH_CHARS = 12
GIT_TIMEOUT_S = 5


def conf_dir(package: Optional[Path] = None) -> Optional[Path]:
    """conf/ at the repository top (editable install, source tree) or asyncrl/conf (plain install)."""
    package = PACKAGE if package is None else package
    for d in (package / "conf", package.parent / "conf"):
        if (d / "config.yaml").exists():
            return d
    return None


def _is_code(rel: str) -> bool:
    """The files that make the code: the package's .py and data .csv files (a plain install maps
    conf/ into the package: that is the conf hash's), and conf/'s .yaml files."""
    parts = rel.split("/")
    if "__pycache__" in parts:
        return False
    if parts[0] == "conf":
        return rel.endswith(".yaml")
    return parts[0] == "asyncrl" and parts[1:2] != ["conf"] and rel.endswith((".py", ".csv"))


def code_files(package: Optional[Path] = None, conf: Optional[Path] = None) -> Dict[str, bytes]:
    """{"asyncrl/...": contents, "conf/...": contents} of a package directory (default: this one)
    and its conf/ (default: :func:`conf_dir`'s)."""
    package = PACKAGE if package is None else package
    conf = conf_dir(package) if conf is None else conf
    files: Dict[str, bytes] = {}
    for top, name in ((package, "asyncrl"), (conf, "conf")):
        if top is None:
            continue
        for p in sorted(Path(top).rglob("*")):
            rel = f"{name}/{p.relative_to(top).as_posix()}"
            if p.is_file() and _is_code(rel):
                files[rel] = p.read_bytes()
    return files


def digest(files: Dict[str, bytes], prefix: str) -> Optional[str]:
    """The first HASH_CHARS hex digits of the SHA-256 of the files under `prefix` (their paths and
    contents, in path order); None when there is none."""
    h = hashlib.sha256()
    names = sorted(f for f in files if f.startswith(prefix + "/"))
    for name in names:
        h.update(name.encode() + b"\0" + str(len(files[name])).encode() + b"\0" + files[name])
    return h.hexdigest()[:HASH_CHARS] if names else None


def _git(where: Path, *args: str) -> Optional[str]:
    """git's output in `where`, or None where git is missing, fails or refuses the directory."""
    try:
        res = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout if res.returncode == 0 else None


def git_checkout(files: Dict[str, bytes], places: Tuple[Path, ...] = ()) -> Optional[Tuple[Path, str]]:
    """(repository top, commit) of the first git checkout among `places` (default: the package's
    directory, then the current one) whose asyncrl/ and conf/ hold exactly `files`; the commit is
    HEAD, with "-dirty" when some of those files differ from HEAD. None when git cannot tell."""
    for place in places or (PACKAGE, Path.cwd()):
        top = (_git(place, "rev-parse", "--show-toplevel") or "").strip()
        if not top or code_files(Path(top) / "asyncrl", Path(top) / "conf") != files:
            continue
        head = (_git(Path(top), "rev-parse", "HEAD") or "").strip()
        status = _git(Path(top), "status", "--porcelain", "-z", "--untracked-files=all", "--", "asyncrl", "conf")
        if not head or status is None:
            continue
        changed = [entry[3:] for entry in status.split("\0") if len(entry) > 3]
        return Path(top), head + ("-dirty" if any(_is_code(f) for f in changed) else "")
    return None


def fingerprint(package: Optional[Path] = None, places: Tuple[Path, ...] = ()) -> Dict[str, Optional[str]]:
    """This code's fingerprint: {"git_commit": commit or None, "source": hash of the package's
    files, "conf": hash of its conf/}. Two runs with equal source and conf ran the same code."""
    files = code_files(package)
    found = git_checkout(files, places)
    return {"git_commit": found[1] if found else None, "source": digest(files, "asyncrl"),
            "conf": digest(files, "conf")}


def changed_files(since: Optional[str], places: Tuple[Path, ...] = (),
                  package: Optional[Path] = None) -> Optional[List[str]]:
    """The code files (asyncrl/, conf/) that differ between commit `since` and this code, when git
    can tell: this code is a checkout's (:func:`git_checkout`) and that checkout knows `since`."""
    if not since or since.endswith("-dirty"):
        return None  # a dirty commit's own changes are not in git
    found = git_checkout(code_files(package), places)
    if found is None:
        return None
    out = _git(found[0], "diff", "--name-only", since, "--", "asyncrl", "conf")
    if out is None:
        return None
    untracked = _git(found[0], "ls-files", "--others", "--exclude-standard", "--", "asyncrl", "conf") or ""
    return sorted(f for f in {*out.split(), *untracked.split()} if _is_code(f))
