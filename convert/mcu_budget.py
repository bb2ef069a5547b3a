"""A microcontroller's memory budget: ``--mcu-ram 256KB --mcu-flash 1MB``.

Sizes follow datasheet usage, where "256KB of SRAM" means 256 x 1024 bytes: K/KB/KiB are
1024 bytes and M/MB/MiB 1024 x 1024; a bare number is bytes. What is checked is what the
model itself costs: its bytes in flash, and the tensor arena in RAM. The TFLM library,
the rest of the firmware and its stack come on top, so a model that only just fits the
budget will not fit the board; pass the share of the chip you can give the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgekit.runtime.errors import ConfigError

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_size(text: str | int, option: str = "size") -> int:
    """'256KB' -> 262144, '1MB' -> 1048576, '262144' -> 262144."""
    if isinstance(text, int) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        match = _SIZE.match(str(text))
        if not match or match.group(2).lower() not in _UNITS:
            raise ConfigError(f"{option}: cannot read {text!r} as a size",
                              hint="e.g. 262144, 256KB or 1MB (KB = 1024 bytes)")
        value, unit = float(match.group(1)), match.group(2).lower()
    size = int(value * _UNITS[unit])
    if size <= 0 or size != value * _UNITS[unit]:
        raise ConfigError(f"{option}: {text!r} is not a positive whole number of bytes")
    return size


def format_bytes(n: int) -> str:
    """'3,216 B (3.1 KiB)': exact bytes for comparing, KiB for reading."""
    return f"{n:,} B" if n < 1024 else f"{n:,} B ({n / 1024:.1f} KiB)"


@dataclass(frozen=True)
class McuBudget:
    """RAM and flash available to the model; None means "not checked"."""

    ram_bytes: int | None = None
    flash_bytes: int | None = None

    @classmethod
    def parse(cls, ram: str | int | None = None, flash: str | int | None = None) -> "McuBudget":
        return cls(None if ram is None else parse_size(ram, "--mcu-ram"),
                   None if flash is None else parse_size(flash, "--mcu-flash"))

    def problems(self, *, flash: int | None, ram: int | None, ram_what: str = "tensor arena",
                 flash_what: str = "model") -> list[str]:
        """Why the model does not fit, one sentence per exceeded limit (empty: it fits)."""
        out = []
        if self.flash_bytes is not None and flash is not None and flash > self.flash_bytes:
            out.append(f"{flash_what} needs {format_bytes(flash)} of flash, over --mcu-flash {format_bytes(self.flash_bytes)}")
        if self.ram_bytes is not None and ram is not None and ram > self.ram_bytes:
            out.append(f"{ram_what} needs {format_bytes(ram)} of RAM, over --mcu-ram {format_bytes(self.ram_bytes)}")
        return out

    def to_dict(self) -> dict:
        return {"ram_bytes": self.ram_bytes, "flash_bytes": self.flash_bytes}
