"""The pip + venv path and the conda path install the same pinned stack."""

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _lock() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock line is not an exact pin: {line!r}"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def _declared() -> list[Requirement]:
    project = _pyproject()["project"]
    reqs = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    return [Requirement(r) for r in reqs]


def test_every_declared_dependency_is_pinned_within_its_bounds():
    pins = _lock()
    for req in _declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is declared in pyproject.toml but not pinned"
        assert req.specifier.contains(pins[name], prereleases=True), \
            f"{req.name}=={pins[name]} in requirements.lock violates pyproject's {req.specifier}"


def test_lock_does_not_pin_the_project_itself():
    assert "churnlab" not in _lock()


def test_conda_environment_installs_the_repo_with_the_same_lock_and_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    assert "-c requirements.lock" in pip_section
    assert "-e .[dev]" in pip_section
    assert _pyproject()["project"]["requires-python"] == ">=3.11,<3.12"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make demo" in readme
    assert "make test" in ci
