"""The Blueprint's check of SINGLETON_ORCHESTRATORS at indexing, with the 2.x SDK's DFApp."""

from __future__ import annotations

import pytest

pytest.importorskip("durabletask", reason="azure-functions-durable 2.x (Python 3.13+) is not installed")

from tests.test_blueprint_orchestrators import (
    test_a_name_the_app_does_not_define_fails_the_indexing_naming_the_setting_and_the_apps_orchestrators,
    test_names_the_app_defines_index_with_the_four_routes,
    test_without_the_app_the_names_are_not_checked_against_it,
)

__all__ = [
    "test_a_name_the_app_does_not_define_fails_the_indexing_naming_the_setting_and_the_apps_orchestrators",
    "test_names_the_app_defines_index_with_the_four_routes",
    "test_without_the_app_the_names_are_not_checked_against_it",
]
