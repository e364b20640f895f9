"""The layout by capability: old module paths still import as the same modules, the README's file map and
"Moved modules" table match the tree, and no folder keeps a family of prefixed siblings."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hypernet.moved import HYPERNET_MOVED
from retok.moved import RETOK_MOVED, new_path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MOVED = {**RETOK_MOVED, **HYPERNET_MOVED}
PACKAGES = ("retok", "hypernet")


def module_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def test_old_paths_import_as_the_same_module_with_a_warning_naming_the_new_path():
    # a fresh interpreter: each old path warns once, on its first import
    script = f"""
import importlib, json, sys, warnings
import retok, hypernet
eager = [old for old in {MOVED!r} if old in sys.modules]  # bound at import, silently
found = {{}}
for old, new in {MOVED!r}.items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    found[old] = [module is importlib.import_module(new), [str(w.message) for w in caught if w.category is DeprecationWarning]]
print(json.dumps([eager, found]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    eager, found = json.loads(done.stdout.splitlines()[-1])
    assert eager == ["retok.transplant"]  # the name of the function too: see retok.moved.install
    assert set(found) == set(MOVED)
    for old, (same, warned) in found.items():
        assert same, f"{old} is not the module at {MOVED[old]}"
        assert old in eager or any(f"{old} moved to {MOVED[old]}" in message for message in warned), (old, warned)


def test_a_submodule_of_a_moved_package_is_the_one_module_not_a_second_copy():
    script = f"ROOT = {str(ROOT)!r}\n" + """
import collections, json, sys, warnings
warnings.simplefilter("ignore")
import retok.initializers.fvt as old, retok.transfer.initializers.fvt as new
from retok.static import StaticVectors
from retok.transfer.static import StaticVectors as New
by_file = collections.defaultdict(set)
for module in list(sys.modules.values()):
    if (getattr(module, "__file__", None) or "").startswith((ROOT + "/retok/", ROOT + "/hypernet/")):
        by_file[module.__file__].add(id(module))
print(json.dumps([old is new, StaticVectors is New, [f for f, ids in by_file.items() if len(ids) > 1]]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    same, same_class, copies = json.loads(done.stdout.splitlines()[-1])
    assert same and same_class
    assert copies == [], f"loaded twice: {copies}"


def test_importing_the_old_transplant_path_keeps_retok_transplant_the_function():
    import retok
    import retok.transplant  # noqa: F401  (the old module path)

    assert callable(retok.transplant) and retok.transplant.__module__ == "retok.transfer.transplant"
    assert sys.modules["retok.transplant"] is importlib.import_module("retok.transfer.transplant")


def test_new_path_maps_a_package_and_its_submodules_and_nothing_else():
    table = {"p.old": "p.sub.new"}
    assert new_path("p.old", table) == "p.sub.new"
    assert new_path("p.old.leaf", table) == "p.sub.new.leaf"
    assert new_path("p.older", table) is None
    assert new_path("p", table) is None


@pytest.mark.parametrize("package, names, module", [
    ("retok.vocab", ["CanonicalVocab", "VocabAlignment", "token_key", "byte_to_unicode", "unicode_to_byte"], "retok.vocab.canonical"),
    ("retok.assets", ["smollm2", "gemma3_270m", "lohelp", "manpages", "status", "cache_dir", "AssetStatus"], "retok.assets.store"),
    ("hypernet.zip2zip", ["Zip2ZipLM", "IGNORE", "is_encoder_parameter", "read_config"], "hypernet.zip2zip.model"),
])
def test_an_old_module_that_became_a_package_re_exports_its_names(package, names, module):
    pkg, real = importlib.import_module(package), importlib.import_module(module)
    for name in names:
        assert getattr(pkg, name) is getattr(real, name), f"{package}.{name}"


def test_no_old_path_is_still_a_file_and_every_new_path_is():
    for old, new in MOVED.items():
        assert not (ROOT / (old.replace(".", "/") + ".py")).exists(), old
        target = ROOT / new.replace(".", "/")
        assert target.with_suffix(".py").is_file() or (target / "__init__.py").is_file(), new


def test_the_readme_moved_table_is_current():
    rows = re.findall(r"^\| `([\w.]+)` \| `([\w.]+)` \|$", README.split("<!-- moved-table:start -->")[1].split("<!-- moved-table:end -->")[0], re.M)
    assert rows == list(MOVED.items()), "README's Moved modules table is stale: run `python recipes/readme_table.py moved -`"


def file_map() -> list[str]:
    section = README.split("## File map", 1)[1]
    return re.findall(r"^\| `([^`]+)` \|", section, re.M)


def test_the_file_map_names_every_module_once_and_only_files_that_exist():
    named = file_map()
    assert len(named) == len(set(named)), [n for n in named if named.count(n) > 1]
    for entry in named:
        assert (ROOT / entry).exists(), f"the file map names {entry}, which does not exist"
    expected = {(p.parent.relative_to(ROOT).as_posix() + "/") if p.name == "__init__.py" and p.parent.name not in PACKAGES
                else p.relative_to(ROOT).as_posix() for p in module_files()}
    missing = sorted(expected - set(named))
    assert not missing, f"modules missing from the README's file map: {missing}"


def test_no_folder_keeps_a_family_of_prefixed_siblings():
    families = []
    for folder in sorted({p.parent for p in module_files()}):
        names = [p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")]
        for name in names:
            prefix = name.split("_")[0]
            siblings = sorted(n for n in names if n != name and (n.startswith(name + "_") or ("_" in name and n.split("_")[0] == prefix)))
            if siblings:
                families.append((folder.relative_to(ROOT).as_posix(), name, siblings))
    assert not families, f"a family of prefixed files is a subpackage waiting to be made: {families}"


def test_the_plugin_entry_points_name_modules_that_exist():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    targets = re.findall(r'^[\w-]+ = "([\w.]+):(\w+)"', text.split('[project.entry-points."retok.commands"]')[1].split("[")[0], re.M)
    assert len(targets) == 3
    for module, attribute in targets:
        assert callable(getattr(importlib.import_module(module), attribute)), f"{module}:{attribute}"


def test_the_package_data_names_files_that_exist():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    data = json.loads("[" + re.search(r'^retok = \[(.*)\]$', text, re.M).group(1) + "]")
    assert all((ROOT / "retok" / name).is_file() for name in data), data
