"""The C compilers the MCU targets use: the host's, to run generated C and compare it with
its source model, and ``arm-none-eabi-gcc`` (Debian: ``gcc-arm-none-eabi``), when
installed, to measure what the code costs on a Cortex-M4F.

Compilers are found as ``$CC``/``$CXX`` or the usual names on PATH. Sizes come from
``arm-none-eabi-size`` (Berkeley format: text includes read-only data, so text + data is
what goes to flash and data + bss what is reserved in RAM, before the stack).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from edgekit.runtime.errors import ConversionError

CORTEX_M4F = ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-Os")
ARM_PACKAGE = "gcc-arm-none-eabi"
COMPILE_TIMEOUT = 600


def host_compiler(cxx: bool = False) -> list[str] | None:
    """The host C (or C++) compiler as an argv prefix, or None."""
    configured = os.environ.get("CXX" if cxx else "CC")
    if configured:
        return shlex.split(configured)
    for name in (("c++", "g++", "clang++") if cxx else ("cc", "gcc", "clang")):
        found = shutil.which(name)
        if found:
            return [found]
    return None


def arm_compiler(cxx: bool = False) -> list[str] | None:
    found = shutil.which("arm-none-eabi-g++" if cxx else "arm-none-eabi-gcc")
    return [found] if found else None


def require_host_compiler(cxx: bool = False) -> list[str]:
    compiler = host_compiler(cxx)
    if compiler is None:
        what = "C++" if cxx else "C"
        raise ConversionError(f"no host {what} compiler found (tried ${'CXX' if cxx else 'CC'}, "
                              f"{'c++, g++, clang++' if cxx else 'cc, gcc, clang'})",
                              hint="install one, e.g. apt-get install build-essential")
    return compiler


def run(argv: Sequence[str], cwd: Path, what: str, *, input_bytes: bytes | None = None,
        timeout: float = COMPILE_TIMEOUT) -> subprocess.CompletedProcess:
    """Run a compiler or a compiled program; a failure is a ConversionError with its stderr."""
    try:
        done = subprocess.run(list(argv), cwd=cwd, input=input_bytes, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ConversionError(f"{what} did not finish within {timeout:g} s") from exc
    except OSError as exc:
        raise ConversionError(f"{what}: cannot run {argv[0]}: {exc.strerror}") from exc
    if done.returncode != 0:
        tail = " | ".join(done.stderr.decode("utf-8", "replace").strip().splitlines()[-4:])
        raise ConversionError(f"{what} failed with status {done.returncode}: {tail}")
    return done


def version(compiler: Sequence[str]) -> str:
    try:
        done = subprocess.run([*compiler, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    first = done.stdout.strip().splitlines()
    return first[0] if first else "unknown"


@dataclass(frozen=True)
class SectionSizes:
    text: int
    data: int
    bss: int
    compiler: str

    @property
    def flash(self) -> int:
        return self.text + self.data  # .data's initial values live in flash too

    @property
    def ram(self) -> int:
        return self.data + self.bss

    def to_dict(self) -> dict:
        return {"text": self.text, "data": self.data, "bss": self.bss, "flash": self.flash, "ram": self.ram,
                "flags": " ".join(CORTEX_M4F), "compiler": self.compiler}


def cortex_m4f_sizes(sources: Sequence[Path], work: Path, *, cxx: bool = False,
                     extra_flags: Sequence[str] = ()) -> SectionSizes | None:
    """Compile ``sources`` to objects for a Cortex-M4F; their summed section sizes, or None
    when arm-none-eabi-gcc is not installed."""
    compiler = arm_compiler(cxx)
    size_tool = shutil.which("arm-none-eabi-size")
    if compiler is None or size_tool is None:
        return None
    objects = []
    for source in sources:
        obj = work / (Path(source).stem + ".arm.o")
        run([*compiler, *CORTEX_M4F, *extra_flags, "-c", str(source), "-o", str(obj)], work,
            f"arm-none-eabi-{'g++' if cxx else 'gcc'} on {Path(source).name}")
        objects.append(obj)
    done = run([size_tool, "-B", *map(str, objects)], work, "arm-none-eabi-size")
    text = data = bss = 0
    for line in done.stdout.decode().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and all(f.isdigit() for f in fields[:3]):
            text, data, bss = text + int(fields[0]), data + int(fields[1]), bss + int(fields[2])
    return SectionSizes(text, data, bss, version(compiler))
