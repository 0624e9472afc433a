"""The routing tree behaves as Alertmanager's does."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from notifier.routes import RouteSpec, build

TREE = """
receiver: noc
group_by: [alertname, site]
group_wait: 30s
routes:
  - matchers: ['severity="critical"']
    receiver: oncall
    group_wait: 0s
    continue: true
  - matchers: ['team="field-service"']
    receiver: technicians
    routes:
      - matchers: ['site="north"']
        receiver: north-technician
  - matchers: ['team=~"field-service|noc"']
    receiver: never-reached-for-field-service
  - matchers: ['audience="driver"']
    receiver: drivers
    group_by: ["..."]
"""


def tree():
    return build(RouteSpec.model_validate(yaml.safe_load(TREE)))


def receivers(labels: dict[str, str]) -> list[str]:
    return [r.receiver for r in tree().match(labels)]


def test_first_matching_child_wins_and_continue_goes_on() -> None:
    critical_north = {"severity": "critical", "team": "field-service", "site": "north"}
    assert receivers(critical_north) == ["oncall", "north-technician"]
    assert receivers({"team": "field-service", "site": "south"}) == ["technicians"]
    assert receivers({"team": "noc"}) == ["never-reached-for-field-service"]
    assert receivers({"team": "billing"}) == ["noc"]  # nothing matched: the root takes it


def test_children_inherit_what_they_do_not_set() -> None:
    root = tree()
    oncall, technicians = root.routes[0], root.routes[1]
    assert oncall.group_wait == 0 and oncall.group_by == ("alertname", "site")
    north = technicians.routes[0]
    assert north.group_wait == 30 and north.repeat_interval == 4 * 3600
    assert north.path == "route.routes[1].routes[0]"


def test_group_keys() -> None:
    root = tree()
    labels = {"alertname": "ChargerOffline", "site": "north", "charger": "CP1"}
    assert root.group_key(labels) == (("alertname", "ChargerOffline"), ("site", "north"))
    drivers = root.routes[3]
    assert drivers.group_key(labels) == tuple(sorted(labels.items()))


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ValidationError) as info:
        RouteSpec.model_validate({"receiver": "x", "routes": [{"matchers": ["site"]}]})
    assert info.value.errors()[0]["loc"] == ("routes", 0, "matchers")
    with pytest.raises(ValidationError, match="is not a duration"):
        RouteSpec.model_validate({"receiver": "x", "group_wait": "soon"})
    with pytest.raises(ValueError, match=r"route\.receiver: the root route needs a receiver"):
        build(RouteSpec())
