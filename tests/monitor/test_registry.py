"""The model registry: versioned copies, lineage, one production, promote/rollback with
history, concurrent writers, SIGKILL mid-update, and its CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from edgekit.monitor.registry import Registry, RegistryError, bundle_fingerprint


def test_register_copies_the_bundle_and_the_first_version_becomes_production(tmp_path, fake_bundle):
    source = fake_bundle(rmse=2.5)
    reg = Registry(tmp_path / "reg")
    v1 = reg.register(source)
    assert (v1.id, v1.name, v1.stage) == (1, "v1", "production")
    assert v1.path == tmp_path / "reg" / "versions" / "v0001"
    assert (v1.path / "model_card.json").read_bytes() == (source / "model_card.json").read_bytes()
    assert v1.bundle_sha256 == bundle_fingerprint(source) and reg.verify(v1)
    assert v1.metrics == {"metric": "rmse", "test": {"rmse": 2.5, "mae": 2.0}}
    v2 = reg.register(fake_bundle(rmse=2.0))
    assert v2.stage == "staging" and reg.production().id == 1


def test_versions_record_lineage_data_fingerprints_and_holdout_metrics(tmp_path, fake_bundle):
    reg = Registry(tmp_path / "reg")
    v1 = reg.register(fake_bundle(data_sha256="a" * 64))
    v2 = reg.register(fake_bundle(data_sha256="b" * 64), parent=v1, metrics={"rmse": 1.9}, notes="retrained",
                      new_data_sha256="c" * 64)
    v3 = reg.register(fake_bundle(), parent="v2")
    assert [v.id for v in reg.lineage(v3)] == [3, 2, 1]
    shown = reg.show("2")
    assert (shown.parent, shown.data_sha256, shown.new_data_sha256, shown.notes) == (1, "b" * 64, "c" * 64, "retrained")
    assert shown.metrics["holdout"] == {"rmse": 1.9}
    assert [v.name for v in reg.list()] == ["v1", "v2", "v3"]
    assert reg.show("production") == reg.show(1)
    assert [e.action for e in reg.history(v2)] == ["register"]


def test_promote_swaps_production_atomically_and_records_history(tmp_path, fake_bundle):
    reg = Registry(tmp_path / "reg")
    reg.register(fake_bundle())
    reg.register(fake_bundle())
    promoted = reg.promote("v2", reason="better holdout rmse")
    assert promoted.stage == "production"
    assert [(v.name, v.stage) for v in reg.list()] == [("v1", "archived"), ("v2", "production")]
    last = reg.history()[-1]
    assert (last.action, last.version, last.previous, last.reason) == ("promote", 2, 1, "better holdout rmse")
    assert reg.promote(2).stage == "production" and len(reg.history()) == 4  # promoting production is a no-op


def test_rollback_walks_back_through_earlier_production_versions(tmp_path, fake_bundle):
    reg = Registry(tmp_path / "reg")
    for _ in range(3):
        reg.promote(reg.register(fake_bundle()))
    assert reg.production().id == 3
    assert reg.rollback(reason="drift alert").id == 2
    assert reg.rollback().id == 1
    with pytest.raises(RegistryError, match="first production version"):
        reg.rollback()
    assert reg.rollback(to="v3").id == 3
    actions = [(e.action, e.version, e.previous) for e in reg.history() if e.action != "register"]
    assert actions == [("promote", 1, None), ("promote", 2, 1), ("promote", 3, 2), ("rollback", 2, 3),
                       ("rollback", 1, 2), ("rollback", 3, 1)]


def test_the_database_allows_only_one_production_version(tmp_path, fake_bundle):
    reg = Registry(tmp_path / "reg")
    reg.register(fake_bundle())
    reg.register(fake_bundle())
    with sqlite3.connect(tmp_path / "reg" / "registry.db") as conn:
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            conn.execute("UPDATE versions SET stage = 'production' WHERE id = 2")


def test_unknown_versions_and_folders_that_are_not_bundles_are_refused(tmp_path, fake_bundle):
    reg = Registry(tmp_path / "reg")
    with pytest.raises(RegistryError, match="no production version"):
        reg.rollback()
    reg.register(fake_bundle())
    with pytest.raises(RegistryError, match="no version v7") as info:
        reg.show("v7")
    assert "v1" in str(info.value)
    with pytest.raises(RegistryError, match="not a version"):
        reg.promote("latest")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RegistryError, match="no model_card.json"):
        reg.register(tmp_path / "empty")
    with pytest.raises(RegistryError, match="no model registry"):
        Registry(tmp_path / "nowhere", create=False)
    assert len(reg.list()) == 1


def test_an_orphan_folder_left_by_a_crashed_registration_is_replaced(tmp_path, fake_bundle):
    reg = Registry(tmp_path / "reg")
    reg.register(fake_bundle())
    orphan = tmp_path / "reg" / "versions" / "v0002"
    orphan.mkdir()
    (orphan / "junk").write_text("from a registration that died before its commit")
    v2 = reg.register(fake_bundle(payload=b"new"))
    assert v2.id == 2 and not (orphan / "junk").exists() and reg.verify(v2)


def test_verify_notices_a_modified_copy(tmp_path, fake_bundle):
    reg = Registry(tmp_path / "reg")
    v1 = reg.register(fake_bundle())
    (v1.path / "model.skops").write_bytes(b"tampered")
    assert not reg.verify(v1)


CHILD = """
import sys
from edgekit.monitor.registry import Registry
reg = Registry(sys.argv[1])
"""


def check_consistent(root) -> list:
    """Invariants that must hold whatever point a writer was killed at."""
    with sqlite3.connect(root / "registry.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    reg = Registry(root)
    versions = reg.list()
    assert sum(v.stage == "production" for v in versions) == (1 if versions else 0)
    for v in versions:
        assert reg.verify(v), f"{v.name} does not match its fingerprint"
    return versions


def test_concurrent_registrations_from_several_processes_get_distinct_versions(tmp_path, fake_bundle):
    source = fake_bundle()
    Registry(tmp_path / "reg")
    code = CHILD + "for _ in range(3):\n    reg.register(sys.argv[2], notes=sys.argv[3])\n"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "reg"), str(source), f"p{k}"],
                              stderr=subprocess.PIPE, text=True) for k in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    versions = check_consistent(tmp_path / "reg")
    assert [v.id for v in versions] == list(range(1, 13))
    assert sorted(v.notes for v in versions) == sorted(f"p{k}" for k in range(4) for _ in range(3))


def test_sigkill_in_the_middle_of_registry_updates_leaves_it_consistent(tmp_path, fake_bundle):
    # A few MB so that a kill often lands inside a copy or a transaction.
    source = fake_bundle(payload=np.random.default_rng(0).bytes(3_000_000))
    root = tmp_path / "reg"
    code = CHILD + textwrap.dedent("""
        print("ready", flush=True)
        i = 0
        while True:
            v = reg.register(sys.argv[2], notes=str(i))
            reg.promote(v)
            if i % 3 == 2:
                reg.rollback()
            i += 1
    """)
    rng = np.random.default_rng(1)
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", code, str(root), str(source)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.1, 0.6)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        check_consistent(root)
    before = len(Registry(root).list())
    assert Registry(root).register(source).id > before  # still usable afterwards
    check_consistent(root)
    leftovers = [p.name for p in (root / "versions").iterdir() if p.name.startswith(".")]
    assert leftovers == []  # temp folders of killed copies are cleaned up by the next registration


def test_the_registry_imports_nothing_heavy():
    result = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import sys
        import edgekit.monitor.registry, edgekit.cli.registry
        print([m for m in ("pandas", "scipy", "sklearn", "matplotlib", "tensorflow") if m in sys.modules])
    """)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- CLI ----------------------------------------------------------------------------------

def test_registry_cli_registers_lists_promotes_and_rolls_back(tmp_path, fake_bundle, run_cli):
    root = str(tmp_path / "reg")
    assert run_cli(["registry", "register", str(fake_bundle()), "--root", root])[:2] == (
        0, f"registered v1 (production) at {tmp_path / 'reg' / 'versions' / 'v0001'}\n")
    assert run_cli(["registry", "register", str(fake_bundle(rmse=1.5)), "--root", root, "--parent", "1",
                    "--notes", "retrain"])[0] == 0
    code, out, _ = run_cli(["registry", "list", "--root", root])
    assert code == 0 and "rmse 1.5" in out and "retrain" in out
    assert run_cli(["registry", "promote", "v2", "--root", root])[1] == "v2 is now production\n"
    code, out, _ = run_cli(["registry", "show", "production", "--root", root, "--json"])
    shown = json.loads(out)
    assert (shown["name"], shown["lineage"], shown["intact"]) == ("v2", ["v2", "v1"], True)
    assert run_cli(["registry", "rollback", "--root", root])[1] == "rolled back: v1 is now production\n"
    assert [v["stage"] for v in json.loads(run_cli(["registry", "list", "--root", root, "--json"])[1])] == [
        "production", "archived"]


@pytest.mark.parametrize("args, message", [
    (["registry", "list"], "no model registry here"),
    (["registry", "show", "v9"], "no version v9"),
    (["registry", "rollback"], "first production version"),
    (["registry", "register", "/nonexistent-bundle"], "not a bundle folder"),
])
def test_registry_cli_errors_print_one_line_and_exit_2(tmp_path, fake_bundle, run_cli, args, message):
    root = tmp_path / ("reg" if args[1] != "list" else "missing")
    if args[1] != "list":
        Registry(root).register(fake_bundle())
    code, out, err = run_cli([*args, "--root", str(root)])
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and err.startswith("edgekit: error:")
