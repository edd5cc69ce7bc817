"""The shared schema: every bad value is refused with the field and what is allowed."""

from __future__ import annotations

import pytest

from core.config import FIELDS, ConfigError, TrainConfig, parse_assignment, parse_field


def test_defaults_are_valid_and_round_trip():
    config = TrainConfig()
    assert TrainConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("changes, field, allowed", [
    ({"rho": 1.5}, "rho", "0 < rho < 1"),
    ({"rho": 0.0}, "rho", "0 < rho < 1"),
    ({"beta": -1.0}, "beta", "0 <= beta <= 1000000"),
    ({"l1_weight": -0.1}, "l1_weight", "0 <= l1_weight"),
    ({"weight_decay": -1e-3}, "weight_decay", "0 <= weight_decay"),
    ({"hidden_units": 0}, "hidden_units", "1 <= hidden_units <= 10000"),
    ({"lr": 0.0}, "lr", "0 < lr <= 1000"),
    ({"batch_size": 0}, "batch_size", "1 <="),
    ({"momentum": 1.0}, "momentum", "0 <= momentum < 1"),
    ({"optimizer": "rmsprop"}, "optimizer", "one of sgd, adam, lbfgs"),
    ({"encoder_activation": "gelu"}, "encoder_activation", "one of sigmoid, tanh, relu"),
    ({"lr": float("nan")}, "lr", "0 < lr"),
    ({"hidden_units": 2.5}, "hidden_units", "an integer"),
    ({"tied_weights": "yes"}, "tied_weights", "true or false"),
])
def test_bad_values_name_the_field_and_the_allowed_range(changes, field, allowed):
    with pytest.raises(ConfigError) as info:
        TrainConfig().replace(**changes)
    message = str(info.value)
    assert info.value.field == field
    assert message.startswith(f"{field} = ")
    assert allowed in message
    assert "\n" not in message


def test_unknown_keys_are_refused_with_the_list_of_keys():
    with pytest.raises(ConfigError, match="unknown setting 'rhoo'.*rho"):
        TrainConfig().replace(rhoo=0.1)
    with pytest.raises(ConfigError, match="unknown setting"):
        TrainConfig.from_dict({"nonsense": 1})


@pytest.mark.parametrize("text, key, value", [
    ("rho=0.1", "rho", 0.1),
    ("hidden_units=196", "hidden_units", 196),
    ("hidden_units=1e2", "hidden_units", 100),
    ("tied_weights=true", "tied_weights", True),
    ("optimizer=LBFGS", "optimizer", "lbfgs"),
    (" beta = 3 ", "beta", 3.0),
])
def test_assignments_parse(text, key, value):
    assert parse_assignment(text) == (key, value)


def test_a_comma_as_decimal_separator_gets_a_hint():
    with pytest.raises(ConfigError, match="use a dot as the decimal separator"):
        parse_field("rho", "0,05")


@pytest.mark.parametrize("text", ["rho", "=3", "rho=abc", "hidden_units=ten", "rho=", "lr=inf"])
def test_bad_assignments_are_one_line_errors(text):
    with pytest.raises(ConfigError) as info:
        parse_assignment(text)
    assert "\n" not in str(info.value)


def test_scope_of_change():
    base = TrainConfig()
    assert base.scope_of_change(base) is None
    assert base.scope_of_change(base.replace(beta=1.0, lr=0.01)) == "live"
    assert base.scope_of_change(base.replace(optimizer="sgd")) == "optimizer"
    assert base.scope_of_change(base.replace(hidden_units=10, lr=0.01)) == "model"


def test_every_field_has_help_and_a_valid_default():
    config = TrainConfig()
    for name, spec in FIELDS.items():
        assert spec.help
        assert spec.check(getattr(config, name)) == getattr(config, name)
