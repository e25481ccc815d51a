"""The key names of a result, in one place: they are the schema's, one each, and the reference kind is the
registry's."""

from __future__ import annotations

from tweetbench.records import keys, result_schema

TOP_LEVEL = {name: value for name, value in vars(keys).items() if name.startswith("K_") and name != "K_REFERENCE"}


def test_every_top_level_key_is_the_schemas_and_every_schema_key_has_a_name() -> None:
    properties = set(result_schema()["properties"])
    assert set(TOP_LEVEL.values()) == properties
    assert len(set(TOP_LEVEL.values())) == len(TOP_LEVEL)  # no key under two names


def test_the_statuses_are_the_schemas() -> None:
    assert list(keys.STATUSES) == result_schema()["properties"][keys.K_STATUS]["enum"]


def test_the_reference_kind_is_the_backend_flagged_reference() -> None:
    from tweetbench.devices import BACKENDS  # imports torch: the backends

    assert [kind for kind, backend in BACKENDS.items() if backend.reference] == [keys.REFERENCE_KIND]
