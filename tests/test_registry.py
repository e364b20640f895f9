import pytest

from retok import methods
from retok._registry import Registry
from retok.errors import RetokError
from retok.initializers import INITIALIZERS, InitConfig, make_config


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
