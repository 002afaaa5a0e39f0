"""An account's settings file is checked as a whole, with one line per problem."""

from __future__ import annotations

import json

import pytest

from clv_assets.lib.account_settings import AccountSettings, InvalidAccountSettings
from clv_assets.lib.landing import MalformedLandingFile, account_settings

pytestmark = pytest.mark.fast


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"currency": "EU'R; DROP TABLE raw.orders; --"}, "key 'currency': must be a three-letter"),
        ({"currency": "eur"}, "key 'currency'"),
        ({"predictions": {"purchase_horizon_days": -5}}, "key 'predictions.purchase_horizon_days'"),
        ({"predictions": {"horizon_weeks": 5}}, "key 'predictions.horizon_weeks'"),
        ({"bands": {"relative_cutofs": [0.5, 1, 2, 3]}}, "unknown band thresholds ['relative_cutofs']"),
        ({"bands": {"relative_cutoffs": [2, 1, 3, 4]}}, "relative_cutoffs must be positive and strictly increasing"),
        ({"model": "gbnbd"}, "key 'model': purchase model must be 'auto' or one of"),
        ({"curency": "EUR"}, "key 'curency': unknown key; allowed:"),
        ({"refit_every_days": -1}, "key 'refit_every_days': Input should be greater than or equal to 0 (got -1)"),
        ({"refit_every_days": "weekly"}, "key 'refit_every_days'"),
    ],
)
def test_invalid_settings_are_one_line_naming_file_and_key(tmp_path, settings, expected):
    (tmp_path / "_account.json").write_text(json.dumps(settings))
    with pytest.raises(MalformedLandingFile) as raised:
        account_settings(tmp_path)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / '_account.json'}: ")
    assert expected in message
    assert "\n" not in message


def test_valid_settings_keep_only_what_the_file_sets(tmp_path):
    given = {"currency": "EUR", "model": "auto", "predictions": {"purchase_horizon_days": 14}, "bands": {"likely_to_order": 0.6}}
    (tmp_path / "_account.json").write_text(json.dumps(given))
    assert account_settings(tmp_path) == given
    assert account_settings(tmp_path / "missing") == {}


def test_every_key_is_described():
    assert all(field.description for field in AccountSettings.model_fields.values())
    with pytest.raises(InvalidAccountSettings):
        AccountSettings.checked({"model": "nope"}, "x")
