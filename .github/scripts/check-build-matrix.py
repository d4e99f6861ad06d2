#!/usr/bin/env python3
"""Checks that the CI build matrix makes every library the addon's .gdextension names, each in
exactly one job, and nothing else (needs PyYAML).

Usage: check-build-matrix.py [WORKFLOW]   (default .github/workflows/build.yml)

Expands jobs.build.strategy.matrix of .github/workflows/build.yml, the build that ci.yml and
release.yml call (platform x profile, with the runner from `include`), asks build-lib.sh for
each leg's file name, and compares that with the [libraries] of
addons/godot-upnp/godot-upnp.gdextension.
"""

import collections
import itertools
import pathlib
import subprocess
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github/workflows/build.yml"
SCRIPTS = ROOT / ".github/scripts"


def legs(matrix):
    axes = {k: v for k, v in matrix.items() if k not in ("include", "exclude")}
    keys = sorted(axes)
    combos = [dict(zip(keys, values)) for values in itertools.product(*(axes[k] for k in keys))]
    for extra in matrix.get("include", []):
        matched = False
        for combo in combos:
            if all(combo.get(k, v) == v for k, v in extra.items() if k in axes):
                combo.update(extra)
                matched = True
        if not matched:
            combos.append(dict(extra))
    return combos


def main():
    path = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else WORKFLOW
    workflow = yaml.safe_load(path.read_text())
    matrix = workflow["jobs"]["build"]["strategy"]["matrix"]
    problems = []
    made = collections.Counter()
    for leg in legs(matrix):
        if not leg.get("os"):
            problems.append(f"build leg {leg} has no runner (os)")
        if not leg.get("platform") or not leg.get("profile"):
            problems.append(f"build leg {leg} lacks a platform or profile")
            continue
        name = subprocess.run(
            ["bash", str(SCRIPTS / "build-lib.sh"), "--name", leg["platform"], leg["profile"]],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        print(f"{leg['platform']:16} {leg['profile']:8} {leg.get('os', '?'):18} -> {name}")
        made[name] += 1
    wanted = subprocess.run(
        ["bash", str(SCRIPTS / "gdextension-libs.sh")], check=True, capture_output=True, text=True
    ).stdout.split()
    for name in wanted:
        if made[name] != 1:
            problems.append(f"{name}: made by {made[name]} build jobs, not 1")
    for name in made:
        if name not in wanted:
            problems.append(f"{name}: built, but the .gdextension does not name it")
    if len(set(wanted)) != len(wanted):
        problems.append("the .gdextension names a library twice")
    for p in problems:
        print("PROBLEM:", p)
    print(f"{len(wanted)} libraries named, {sum(made.values())} build jobs, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
