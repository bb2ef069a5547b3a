"""Memory budgets: sizes read the way MCU datasheets write them (KB = 1024 bytes)."""

import pytest

from edgekit.convert.mcu_budget import McuBudget, parse_size
from edgekit.runtime.errors import ConfigError


@pytest.mark.parametrize("text, size", [("256KB", 262144), ("1MB", 1048576), ("262144", 262144), ("64 KiB", 65536),
                                        ("1.5M", 1572864), (4096, 4096)])
def test_sizes_read_like_datasheets(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "12XB", "-1KB", "0", "1.3B", "KB"])
def test_unreadable_sizes_are_usage_errors(text):
    with pytest.raises(ConfigError):
        McuBudget.parse(ram=text)


def test_budget_names_what_is_over_with_both_numbers():
    budget = McuBudget.parse(ram="4KB", flash="1MB")
    assert budget.problems(flash=2 * 1024 * 1024, ram=100) == [
        "model needs 2,097,152 B (2048.0 KiB) of flash, over --mcu-flash 1,048,576 B (1024.0 KiB)"]
    assert budget.problems(flash=10, ram=5000, ram_what="the tensor arena") == [
        "the tensor arena needs 5,000 B (4.9 KiB) of RAM, over --mcu-ram 4,096 B (4.0 KiB)"]
    assert McuBudget().problems(flash=10**9, ram=10**9) == []
