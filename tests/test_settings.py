"""Settings: one frozen object from the environment, failing fast with the variable's name."""
from __future__ import annotations

import pytest

from chalicelib.settings import Settings, SettingsError

REQUIRED = {"KEEPWARM_TABLE": "keepwarm-dev", "KEEPWARM_QUEUE_URL": "http://127.0.0.1:1/q"}


def test_defaults_and_overrides():
    settings = Settings.from_env({**REQUIRED, "KEEPWARM_POLL_SECONDS": "3"})
    assert settings.table_name == "keepwarm-dev"
    assert settings.poll_seconds == 3
    assert settings.default_keepalive_minutes == 14
    assert (settings.lead_percentile, settings.held_lead_percentile) == (95, 99)
    assert (settings.prior_load_median_seconds, settings.prior_load_sigma, settings.prior_weight) == (90, 0.6, 10)


@pytest.mark.parametrize("env, name", [
    ({"KEEPWARM_QUEUE_URL": "q"}, "KEEPWARM_TABLE"),
    ({"KEEPWARM_TABLE": "t"}, "KEEPWARM_QUEUE_URL"),
    ({**REQUIRED, "KEEPWARM_POLL_SECONDS": "ten"}, "KEEPWARM_POLL_SECONDS"),
    ({**REQUIRED, "KEEPWARM_LEAD_PERCENTILE": "97"}, "KEEPWARM_LEAD_PERCENTILE"),
    ({**REQUIRED, "KEEPWARM_PRIOR_LOAD_SIGMA": "nan"}, "KEEPWARM_PRIOR_LOAD_SIGMA"),
    ({**REQUIRED, "KEEPWARM_PRIOR_LOAD_MEDIAN_SECONDS": "0"}, "KEEPWARM_PRIOR_LOAD_MEDIAN_SECONDS"),
    ({**REQUIRED, "KEEPWARM_MAX_ATTEMPTS": "-1"}, "KEEPWARM_MAX_ATTEMPTS"),
    ({**REQUIRED, "KEEPWARM_POLL_SECONDS": "0"}, "KEEPWARM_POLL_SECONDS"),
    ({**REQUIRED, "KEEPWARM_CLAIM_TIMEOUT_SECONDS": "5"}, "KEEPWARM_CLAIM_TIMEOUT_SECONDS"),
    ({**REQUIRED, "KEEPWARM_DEFAULT_KEEPALIVE_MINUTES": "15"}, "KEEPWARM_DEFAULT_KEEPALIVE_MINUTES"),
    ({**REQUIRED, "KEEPWARM_CMU_PRICES": "{not json"}, "KEEPWARM_CMU_PRICES"),
    ({**REQUIRED, "KEEPWARM_CMU_PRICES": '{"us-west-2": -1}'}, "KEEPWARM_CMU_PRICES"),
    ({**REQUIRED, "KEEPWARM_ASSUME_ROLE_PATTERN": "keepwarm-*"}, "KEEPWARM_ASSUME_ROLE_PATTERN"),
    ({**REQUIRED, "KEEPWARM_ASSUME_ROLE_PATTERN": "arn:aws:iam::*:user/keepwarm-*"}, "KEEPWARM_ASSUME_ROLE_PATTERN"),
])
def test_bad_environment_names_the_variable(env, name):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(env)


def test_settings_are_frozen():
    settings = Settings.from_env(REQUIRED)
    with pytest.raises(AttributeError):
        settings.poll_seconds = 1  # type: ignore[misc]
