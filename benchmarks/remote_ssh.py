"""Reaching a device over SSH with the system OpenSSH client.

``ssh`` is run in batch mode (never a password or host-key prompt), with a connect timeout
and keep-alives, so an unreachable host, a refused key or a silent port ends in one clear
line well within 15 seconds. Host keys are checked exactly as OpenSSH checks them (the
user's known_hosts and ssh_config, or ``--known-hosts FILE``) unless the user passes
``--insecure-host-key``. Every remote command runs under ``sh -c`` so the device's login
shell does not matter.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from edgekit.runtime.errors import ConfigError, EdgekitError

CONNECT_TIMEOUT_S = 10  # TCP connect and SSH banner exchange (OpenSSH's ConnectTimeout covers both)
FIRST_CONTACT_TIMEOUT_S = 14  # connect + login + first command, hard limit: one line within 15 s
KEEPALIVE_S = 5  # a link that dies mid-run is noticed after 3 unanswered keep-alives
NAME = re.compile(r"^[A-Za-z0-9_.%:\[\]-]+$")


class DeviceError(EdgekitError):
    """The remote device cannot be reached, refuses us, or cannot run the measurement."""


@dataclass(frozen=True)
class SshTarget:
    host: str
    port: int = 22
    user: str | None = None
    identity: Path | None = None
    known_hosts: Path | None = None
    insecure_host_key: bool = False

    @classmethod
    def parse(cls, url: str, **options) -> "SshTarget":
        """``ssh://[user@]host[:port]``; anything else is a usage error (exit 2)."""
        hint = "use --device ssh://user@host[:port], e.g. ssh://pi@raspberrypi.local:22"
        parts = urlsplit(url.strip())
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"--device {url!r}: the port is not a number from 1 to 65535", hint=hint) from None
        if parts.scheme != "ssh" or not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(f"--device {url!r} is not an ssh:// URL", hint=hint)
        if parts.password is not None:
            raise ConfigError(f"--device {url!r}: passwords in the URL are not supported", hint="log in with a key: --identity KEY")
        user = parts.username
        for what, value in (("host", parts.hostname), ("user", user)):
            if value is not None and (not NAME.match(value) or value.startswith("-")):
                raise ConfigError(f"--device {url!r}: {value!r} is not a valid {what} name", hint=hint)
        return cls(host=parts.hostname, port=port or 22, user=user, **options)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ssh://{self.user + '@' if self.user else ''}{host}:{self.port}"

    @property
    def label(self) -> str:
        return self.url[len("ssh://"):]

    def command(self, script: str) -> list[str]:
        """The ssh argv that runs ``script`` under ``sh -c`` on the device."""
        ssh = shutil.which("ssh")
        if ssh is None:
            raise DeviceError("no ssh client on this machine", hint="install OpenSSH (apt-get install openssh-client)")
        argv = [ssh, "-T", "-p", str(self.port), "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}",
                "-o", f"ServerAliveInterval={KEEPALIVE_S}", "-o", "ServerAliveCountMax=3", "-o", "LogLevel=ERROR"]
        if self.user:
            argv += ["-l", self.user]
        if self.identity is not None:
            argv += ["-i", str(self.identity), "-o", "IdentitiesOnly=yes"]
        if self.insecure_host_key:
            argv += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        elif self.known_hosts is not None:
            argv += ["-o", f"UserKnownHostsFile={self.known_hosts}"]
        return argv + ["--", self.host, "sh -c " + shlex.quote(script)]

    def run(self, script: str, *, timeout_s: float, what: str, stdin=None, input: bytes | None = None
            ) -> subprocess.CompletedProcess:
        """Run ``script`` (stdin from a file or ``input`` bytes); an ssh-level failure (exit 255)
        or a timeout is a DeviceError."""
        if stdin is None and input is None:
            stdin = subprocess.DEVNULL
        try:
            done = subprocess.run(self.command(script), stdin=stdin, input=input, capture_output=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"{self.label}: no answer within {timeout_s:.0f} s while {what}",
                              hint="is the host reachable and the port an SSH server?") from None
        if done.returncode == 255:
            raise ssh_failure(self, done.stderr.decode(errors="replace"))
        return done


def ssh_failure(target: SshTarget, stderr: str) -> DeviceError:
    """ssh's own error (exit 255) as one line that says what to do."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("@")]
    text = " ".join(lines)
    last = lines[-1] if lines else "ssh exited with status 255 and no message"
    if "Permission denied" in text:
        key = f"the key {target.identity}" if target.identity else "your keys (ssh-agent, ~/.ssh)"
        return DeviceError(f"{target.label} refused {key}: {last}",
                           hint="check --identity and the device's ~/.ssh/authorized_keys")
    if "Host key verification failed" in text or "IDENTIFICATION HAS CHANGED" in text:
        changed = "has CHANGED" if "CHANGED" in text else "is not in known_hosts"
        return DeviceError(f"{target.label}: the host key {changed} (Host key verification failed)",
                           hint="verify it, then add it with ssh-keyscan or one interactive ssh; "
                                "--insecure-host-key skips the check")
    if "timed out" in text:
        return DeviceError(f"{target.label}: timed out ({last})", hint="is the host up and on this network?")
    return DeviceError(f"{target.label}: {last}")
