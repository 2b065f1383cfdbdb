"""Natural sort: digit runs compare as numbers, and the key is a total order on any names."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from weightlib.shards import natural_sort_key, natural_sorted


def test_unpadded_shards_sort_numerically() -> None:
    names = [f"model-{i}-of-12.safetensors" for i in range(1, 13)]
    assert natural_sorted(reversed(names)) == names


def test_padded_shards_and_directories() -> None:
    names = ["a/model-00010.bin", "b/model-00002.bin", "model-00001.bin"]
    assert natural_sorted(names) == ["model-00001.bin", "b/model-00002.bin", "a/model-00010.bin"]


def test_superscript_digits_do_not_crash() -> None:
    # '²' passes str.isdigit() but int() rejects it; it must be compared as text.
    assert natural_sorted(["x²", "x1", "x10", "x2"]) == ["x1", "x2", "x10", "x²"]


names = st.text(alphabet=st.sampled_from("ab-_.0123456789²٣"), max_size=12)


@given(st.lists(names, max_size=20))
def test_sort_is_deterministic_and_idempotent(items: list[str]) -> None:
    once = natural_sorted(items)
    assert natural_sorted(once) == once
    assert natural_sorted(reversed(items)) == once


@given(names, st.integers(0, 10**6), st.integers(0, 10**6), names)
def test_numbers_compare_as_integers(prefix: str, a: int, b: int, suffix: str) -> None:
    prefix = prefix.rstrip("0123456789٣")
    suffix = "." + suffix
    key_a = natural_sort_key(f"{prefix}{a}{suffix}")
    key_b = natural_sort_key(f"{prefix}{b}{suffix}")
    if a < b:
        assert key_a < key_b
    elif a > b:
        assert key_a > key_b


@given(names, names, names)
def test_key_is_a_total_order(x: str, y: str, z: str) -> None:
    kx, ky, kz = map(natural_sort_key, (x, y, z))
    assert (kx < ky) + (kx > ky) + (kx == ky) == 1
    if kx <= ky <= kz:
        assert kx <= kz
    assert (kx == ky) == (x == y)
