"""The action's image: hadolint-clean Dockerfile, base pinned by digest, and a hash lock that covers the runtime."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.lint_tools import ROOT, run, tool

DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"
IMAGE_EXTRAS = ("local", "azure", "azure-v2", "github")
LOCKED = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+) \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", re.M)


def instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def locked() -> dict[str, str]:
    text = LOCK.read_text(encoding="utf-8")
    pins = {canonicalize_name(name): version for name, version, _ in LOCKED.findall(text)}
    entries = [line for line in text.splitlines() if re.match(r"^[A-Za-z0-9_.-]+==", line)]
    assert len(pins) == len(entries), "every pinned line carries sha256 hashes"
    return pins


def image_requirements() -> list[Requirement]:
    """pyproject's runtime dependencies, the extras the image installs (self-references followed), the build backend."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extras = project["project"]["optional-dependencies"]
    wanted, seen, pending = [Requirement(r) for r in project["project"]["dependencies"]], set(), list(IMAGE_EXTRAS)
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in extras[extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == "mlops-ci":
                pending.extend(requirement.extras)
            else:
                wanted.append(requirement)
    return wanted + [Requirement(r) for r in project["build-system"]["requires"]]


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    result = run([tool("hadolint"), "--no-color", str(DOCKERFILE)])
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim\nRUN pip install requests\nUSER nobody\n", encoding="utf-8")
    found = run([tool("hadolint"), "--no-color", str(bad)])
    assert found.returncode != 0 and "DL3013" in found.stdout, "hadolint runs and can fail"


def test_dockerfile_layers_pins_and_entrypoint() -> None:
    steps = instructions()
    [(_, base)] = [s for s in steps if s[0] == "FROM"]
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", base), base
    keywords = [k for k, _ in steps]
    assert "USER" not in keywords, "GitHub runs Docker actions as root"
    assert steps[-1] == ("ENTRYPOINT", '["python", "/app/entrypoint.py"]')
    lock_install = next(i for i, (k, rest) in enumerate(steps) if k == "RUN" and "--require-hashes" in rest)
    assert "--no-deps" in steps[lock_install][1] and "requirements.lock" in steps[lock_install][1]
    code_copy = next(i for i, (k, rest) in enumerate(steps) if k == "COPY" and "mlops_ci" in rest)
    assert lock_install < code_copy, "dependencies are installed before the code is copied"
    project_install = [rest for k, rest in steps[code_copy:] if k == "RUN" and "pip install" in rest]
    assert project_install and all("--no-deps" in rest for rest in project_install)
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv", "tests", ".mlops-ci"} <= set(ignored)


def test_lock_pins_every_requirement_within_its_range() -> None:
    pins = locked()
    for requirement in image_requirements():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in requirements.lock: regenerate it (command at its top)"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} vs {requirement}"


def test_lock_is_closed_under_the_installed_dependencies() -> None:
    """Everything the image's requirements need, as this environment's package metadata says, is locked too."""
    pins = locked()
    missing: dict[str, str] = {}
    queue = [(r, frozenset(r.extras)) for r in image_requirements()]
    seen: set[tuple[str, frozenset[str]]] = set()
    while queue:
        requirement, extras = queue.pop()
        name = canonicalize_name(requirement.name)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        if name not in pins:
            missing[name] = str(requirement)
            continue
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # not installed here; the pin itself was checked above
        for text in requires:
            child = Requirement(text)
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in (extras or {""})):
                queue.append((child, frozenset(child.extras)))
    assert not missing, f"needed but not locked: {missing}"


@pytest.mark.parametrize("name", ["pygithub", "azure-identity", "azureml-core", "azure-ai-ml",
                                  "azureml-inference-server-http"],
                         ids=["github", "oidc", "azure", "azure-v2", "local"])
def test_lock_holds_what_each_integration_imports(name: str) -> None:
    assert name in locked()


def test_lock_is_generated_for_the_image_extras() -> None:
    """The command at the lock's top names every extra the image installs, so regenerating it keeps them."""
    header = LOCK.read_text(encoding="utf-8").split("\n\n", 1)[0]
    assert set(re.findall(r"--extra=([a-z0-9-]+)", header)) == set(IMAGE_EXTRAS)


def test_locked_versions_satisfy_each_other() -> None:
    """`pip check` on the lock: each locked package's requirements (as its metadata here says, where the installed
    version is the locked one) accept the versions locked for them."""
    pins = locked()
    conflicts = []
    for name, version in pins.items():
        try:
            if metadata.version(name) != version:
                continue
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            child = Requirement(text)
            if child.marker is not None and not child.marker.evaluate({"extra": ""}):
                continue
            wanted = canonicalize_name(child.name)
            if wanted in pins and not child.specifier.contains(pins[wanted], prereleases=True):
                conflicts.append(f"{name}=={version} needs {child}, locked {wanted}=={pins[wanted]}")
    assert not conflicts, conflicts
