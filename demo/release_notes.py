"""A tiny module the demo release gate checks: it renders release notes."""

from __future__ import annotations


def bump(version: str, part: str) -> str:
    """Bump one part ('major', 'minor' or 'patch') of a semantic version."""
    major, minor, patch = (int(x) for x in version.split("."))
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    if part == "patch":
        return f"{major}.{minor}.{patch + 1}"
    raise ValueError(f"unknown version part {part!r}")


def render(version: str, changes: list[str]) -> str:
    """Release notes: a heading and one bullet per change, sorted."""
    lines = [f"## {version}", ""]
    lines += [f"- {change}" for change in sorted(changes)] or ["- no changes"]
    return "\n".join(lines) + "\n"
