import importlib
import subprocess
import sys

import pytest

from retok import methods
from retok._registry import Registry
from retok.errors import RetokError
from retok.transfer.initializers import INITIALIZERS, InitConfig, make_config


def test_unknown_method_suggests_the_closest_name():
    with pytest.raises(RetokError, match=r"unknown initializer 'fvtt'\. Did you mean 'fvt'\? Available: .*gaussian"):
        INITIALIZERS.get("fvtt")


def test_unknown_option_lists_valid_options():
    with pytest.raises(RetokError, match=r"unknown option 'polling'\. Did you mean 'output_pooling'\? Valid: seed, output_pooling"):
        make_config("fvt", polling="mean")


def test_cli_strings_are_coerced_to_field_types():
    config = make_config("fvt", seed="7", output_pooling="first")
    assert config.seed == 7 and config.output_pooling == "first"
    with pytest.raises(RetokError, match="must be one of mean, first, last"):
        make_config("fvt", output_pooling="max")
    with pytest.raises(RetokError, match="must be an integer"):
        make_config("fvt", seed="x")


def test_config_round_trips_through_dict():
    config = make_config("fvt", seed=3, output_pooling="last")
    assert InitConfig.from_dict(config.to_dict()) == config


def test_duplicate_registration_is_refused():
    registry: Registry[int] = Registry("thing")
    registry.add("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        registry.add("a", 2)


def test_lazy_entry_imports_on_first_use():
    registry: Registry[object] = Registry("thing")
    registry.register_lazy("json", "json:dumps")
    assert "json" in registry and registry.names() == ["json"]
    with pytest.raises(RetokError, match="unknown thing 'json'"):
        registry.get("json")  # the module imported but did not register itself


def test_methods_lists_every_registered_initializer():
    assert {m.name for m in methods()} == set(INITIALIZERS.names())


def test_lazy_entry_whose_import_fails_stays_listed_and_names_the_fix():
    registry: Registry[object] = Registry("thing")
    registry.register_lazy("ghost", "retok_no_such_module:thing", install="pip install 'retok[ghost]'")
    for _ in range(2):  # the second lookup gives the same answer, not "unknown thing"
        with pytest.raises(RetokError, match=r"thing 'ghost' cannot be loaded: No module named 'retok_no_such_module'; pip install 'retok\[ghost\]'"):
            registry.get("ghost")
    assert registry.names() == ["ghost"]


def test_lazy_entry_registers_itself_on_import(monkeypatch, tmp_path):
    (tmp_path / "retok_lazy_fixture.py").write_text(
        "from retok.transfer.initializers import INITIALIZERS\nINITIALIZERS.add('lazyfixture', 'the spec')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(INITIALIZERS, "_entries", dict(INITIALIZERS._entries))
    monkeypatch.setattr(INITIALIZERS, "_lazy", {**INITIALIZERS._lazy, "lazyfixture": "retok_lazy_fixture:x"})
    assert INITIALIZERS.get("lazyfixture") == "the spec"
    assert "lazyfixture" in INITIALIZERS.names()


def test_methods_command_lists_an_unavailable_method_and_the_rest(monkeypatch, capsys):
    from retok.cli import main

    monkeypatch.setattr(INITIALIZERS, "_lazy", {**INITIALIZERS._lazy, "ghost": "retok_no_such_module:x"})
    monkeypatch.setattr(INITIALIZERS, "_install", {**INITIALIZERS._install, "ghost": "pip install 'retok[ghost]'"})
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "ghost      unavailable: initializer 'ghost' cannot be loaded" in out and "retok[ghost]" in out
    assert "fvt        FVT" in out
    assert "ghost" not in {m.name for m in methods()}


def test_a_method_name_is_looked_up_once_per_transplant(monkeypatch, english_tokenizer, german_tokenizer):
    from retok.testing import tiny_llama
    from retok.transfer.transplant import transplant

    lookups = []
    real_get = INITIALIZERS.get
    monkeypatch.setattr(INITIALIZERS, "get", lambda name: lookups.append(name) or real_get(name))
    transplant(tiny_llama(len(english_tokenizer)), german_tokenizer, "fvt", old_tokenizer=english_tokenizer)
    assert lookups == ["fvt"]


def test_a_config_that_is_not_registered_is_refused():
    from dataclasses import dataclass

    from retok.transfer.initializers.base import resolve_config

    @dataclass(frozen=True, kw_only=True)
    class Stray(InitConfig):
        pass

    with pytest.raises(RetokError, match="Stray is not the config of a registered initializer"):
        resolve_config(Stray(), {})


def test_importing_a_lazy_entrys_module_directly_registers_it_instead_of_failing(monkeypatch, tmp_path):
    (tmp_path / "retok_direct_fixture.py").write_text("from retok import INITIALIZERS\nINITIALIZERS.add('directfixture', 'the spec')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(INITIALIZERS, "_entries", dict(INITIALIZERS._entries))
    monkeypatch.setattr(INITIALIZERS, "_lazy", {**INITIALIZERS._lazy, "directfixture": "retok_direct_fixture:x"})
    monkeypatch.delitem(sys.modules, "retok_direct_fixture", raising=False)
    importlib.import_module("retok_direct_fixture")  # as `from hypernet import HypernetConfig` does, before any lookup
    assert INITIALIZERS.get("directfixture") == "the spec"
    monkeypatch.delitem(sys.modules, "retok_direct_fixture")


def test_another_module_cannot_take_a_lazy_entrys_name():
    registry = Registry("thing")
    registry.register_lazy("taken", "retok_module_that_is_not_imported:x")
    with pytest.raises(ValueError, match="'taken' is already registered"):
        registry.add("taken", object())


def test_the_hypernet_config_imports_after_the_registry_is_loaded():
    script = "import retok\nretok.INITIALIZERS.names()\nfrom hypernet import HypernetConfig\nimport retok\nprint(retok.INITIALIZERS.get('hypernet').config_cls is HypernetConfig)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr[-1500:]
