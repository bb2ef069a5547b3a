"""TFLite Micro target: parity with LiteRT's built-in kernels, minimum arena, budget,
refusals. References: the bare tflite_micro interpreter (in a subprocess: it segfaults on
tiny arenas) and ai_edge_litert with OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES (the
kernels that round as TFLM's do; see convert/tflm.py), both driven here."""

import subprocess
import sys

import numpy as np
import pytest

from edgekit.convert.mcu_budget import McuBudget

pytestmark = pytest.mark.slow

BARE_TFLM = r"""
import sys
import numpy as np
from tflite_micro import runtime
model, arena, inputs, out, keep = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
config = runtime.InterpreterConfig.kPreserveAllTensors if keep >= 0 else runtime.InterpreterConfig.kAllocationRecording
try:
    interp = runtime.Interpreter.from_bytes(open(model, "rb").read(), arena_size=arena, intrepreter_config=config)
except RuntimeError as exc:
    print("refused:", exc)
    sys.exit(3)
if inputs != "-":
    x = np.load(inputs)
    rows, kept = [], []
    for r in range(len(x)):
        interp.set_input(x[r : r + 1], 0)
        interp.invoke()
        rows.append(np.array(interp.get_output(0), copy=True))
        if keep >= 0:
            kept.append(np.asarray(interp.GetTensor(keep, 0)["tensor_data"]).reshape(1, -1))
    np.savez(out, y=np.concatenate(rows), kept=np.concatenate(kept) if kept else np.zeros(0))
print("allocated")
"""


def bare_tflm(model, arena, x=None, tmp_path=None, keep=-1):
    """(exit code, outputs, kept tensor) of the bare TFLM interpreter at ``arena`` bytes;
    ``keep``: a tensor index to return too (all tensors are then preserved)."""
    inputs = out = "-"
    if x is not None:
        inputs, out = str(tmp_path / "x.npy"), str(tmp_path / "y.npz")
        np.save(inputs, x)
    done = subprocess.run([sys.executable, "-c", BARE_TFLM, str(model), str(arena), inputs, out, str(keep)],
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0 or x is None:
        return done.returncode, None, None
    with np.load(out) as npz:
        return 0, npz["y"], npz["kept"]


def litert_reference(model, x, keep=None, resolver="BUILTIN_WITHOUT_DEFAULT_DELEGATES"):
    """Rows through LiteRT's kernels one at a time: outputs, and the tensor ``keep``."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_path=str(model), experimental_op_resolver_type=getattr(OpResolverType, resolver),
                         experimental_preserve_all_tensors=True)
    interp.allocate_tensors()
    i, o = interp.get_input_details()[0], interp.get_output_details()[0]
    rows, kept = [], []
    for r in range(len(x)):
        interp.set_tensor(i["index"], x[r : r + 1])
        interp.invoke()
        rows.append(interp.get_tensor(o["index"]).copy())
        if keep is not None:
            kept.append(interp.get_tensor(keep).reshape(1, -1).copy())
    return np.concatenate(rows), (np.concatenate(kept) if kept else None)


def last_dequantize_input(model):
    """The int8 tensor the model's float output is computed from."""
    from ai_edge_litert.interpreter import Interpreter

    ops = Interpreter(model_path=str(model))._get_ops_details()
    return int([op for op in ops if op["op_name"] == "DEQUANTIZE"][-1]["inputs"][0])


def mpg_test_matrix(built):
    from edgekit.runtime.inputs import to_columns, to_matrix
    from edgekit.train import load_bundle

    bundle = load_bundle(built.bundle)
    test = bundle.split("test")
    schema = bundle.card.schema
    x = to_matrix(to_columns({f.name: test[f.name].to_numpy() for f in schema}, schema), schema)
    return x, test[bundle.card.target].to_numpy(dtype=np.float64)


def test_mpg_int8_export_runs_in_tflm_within_one_step_of_litert_reference(mpg_nn, tmp_path):
    from edgekit.convert.tflm import check_tflm
    from edgekit.train.metrics import get_metric

    model = mpg_nn.export("tflite-int8")
    x, y = mpg_test_matrix(mpg_nn)
    rmse = get_metric("rmse", "regression")
    check = check_tflm(model, [x], y_true=y, metric=rmse)
    r = check.result
    assert r.status == "passed", r.reason
    assert r.precision == "int8, float I/O"
    # The float prediction is the network's int8 result, dequantised (and rescaled in float):
    # compare that int8 tensor, kept by both interpreters.
    q = last_dequantize_input(model)
    code, tflm, tflm_q = bare_tflm(model, 1 << 20, x, tmp_path, keep=q)
    assert code == 0
    reference, reference_q = litert_reference(model, x, keep=q)
    steps = np.abs(tflm_q.astype(np.int64) - reference_q.astype(np.int64)).max(axis=1)
    assert steps.max() <= 1, f"TFLM vs LiteRT reference: up to {steps.max()} steps"
    assert r.parity["rows"] == len(x) and r.parity["agreement"] == 1.0
    assert r.parity["max_steps"] == pytest.approx(steps.max(), abs=1e-3)
    assert r.metric["mcu"] == pytest.approx(rmse.fn(y, tflm.reshape(-1)), rel=1e-6)
    assert r.metric["reference"] == pytest.approx(rmse.fn(y, reference.reshape(-1)), rel=1e-6)
    print(f"\nmpg int8: flash {r.flash_bytes} B, arena {r.arena_bytes} B (constant {r.ram_bytes}), "
          f"max {steps.max()} step(s), rmse TFLM {r.metric['mcu']:.4f} / LiteRT {r.metric['reference']:.4f}")


def test_foreign_cnn_int8_kernels_agree_within_one_step(foreign, tmp_path):
    from edgekit.convert.tflm import check_tflm
    from edgekit.train.metrics import get_metric

    accuracy = get_metric("accuracy", "classification")
    check = check_tflm(foreign.cnn_int8, {"image": foreign.digits_x}, y_true=foreign.digits_y, metric=accuracy)
    r = check.result
    assert r.status == "passed", r.reason
    assert r.precision == "int8" and set(r.ops) >= {"CONV_2D", "FULLY_CONNECTED", "SOFTMAX"}
    from ai_edge_litert.interpreter import Interpreter

    scale, zero = Interpreter(model_path=str(foreign.cnn_int8)).get_input_details()[0]["quantization"]
    q = np.clip(np.round(foreign.digits_x / scale + zero), 0, 255).astype(np.uint8)
    code, tflm, _ = bare_tflm(foreign.cnn_int8, r.arena_bytes, q, tmp_path)
    assert code == 0
    reference, _ = litert_reference(foreign.cnn_int8, q)
    steps = np.abs(tflm.astype(np.int64) - reference.astype(np.int64)).max(axis=1)
    assert steps.max() <= 1, f"TFLM vs LiteRT: up to {steps.max()} steps on {np.sum(steps > 1)} rows"
    assert r.parity["agreement"] == 1.0 and r.parity["max_steps"] == steps.max() and r.parity["origin"] is None
    assert r.metric["mcu"] == pytest.approx(accuracy.fn(foreign.digits_y, tflm.argmax(axis=1)))
    print(f"\nCNN int8: flash {r.flash_bytes} B, arena {r.arena_bytes} B, max {steps.max()} step(s), "
          f"exact on {np.mean(steps == 0):.1%} of {len(steps)} rows, "
          f"accuracy TFLM {r.metric['mcu']:.4f} / LiteRT {r.metric['reference']:.4f}")


def test_digits_network_converts_to_tflm_within_one_step_on_every_test_row(digits_nn, tmp_path):
    import json

    import pandas as pd

    from edgekit.convert.mcu import convert_mcu

    report = convert_mcu(digits_nn.bundle, tmp_path / "mcu")
    rows = {r.name: r for r in report.results}
    assert {"tflm-int8", "tflm-int8-int8io"} <= set(rows) and report.passed
    test = pd.read_csv(digits_nn.bundle / "data" / "test.csv")
    x = test.drop(columns=["target"]).to_numpy(np.float32)
    for name in ("tflm-int8", "tflm-int8-int8io"):
        r = rows[name]
        assert r.status == "passed", r.reason
        model = tmp_path / f"{name}.tflite"  # the flatbuffer the C array holds, read back from model_data.cc
        source = (tmp_path / "mcu" / name / "model_data.cc").read_text()
        body = source[source.index("{") + 1 : source.rindex("}")]
        model.write_bytes(bytes(int(h, 16) for h in body.replace(",", " ").split()))
        assert len(model.read_bytes()) == r.flash_bytes
        feed = x
        if name.endswith("int8io"):
            from ai_edge_litert.interpreter import Interpreter

            scale, zero = Interpreter(model_path=str(model)).get_input_details()[0]["quantization"]
            feed = np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)
        q = last_dequantize_input(model) if name == "tflm-int8" else None
        code, tflm, tflm_q = bare_tflm(model, r.arena_bytes if q is None else 1 << 20, feed, tmp_path,
                                     keep=-1 if q is None else q)
        assert code == 0
        assert bare_tflm(model, r.arena_bytes)[0] == 0 and bare_tflm(model, r.arena_bytes - 1024)[0] == 3
        reference, reference_q = litert_reference(model, feed, keep=q)
        got, want = (tflm_q, reference_q) if q is not None else (tflm, reference)
        steps = np.abs(got.astype(np.int64) - want.astype(np.int64)).max(axis=1)
        assert len(steps) == len(test) and steps.max() <= 1, f"{name}: up to {steps.max()} steps"
        assert r.parity["rows"] == len(test) and r.parity["agreement"] == 1.0
        # The other LiteRT kernels are not the reference for a reason: measured, not assumed.
        ref_kernels, _ = litert_reference(model, feed, resolver="BUILTIN_REF")
        print(f"\ndigits {name}: flash {r.flash_bytes} B, arena {r.arena_bytes} B, TFLM = LiteRT built-in on "
              f"{np.mean(steps == 0):.1%} of {len(steps)} rows (max {steps.max()}); vs BUILTIN_REF max "
              f"{np.abs(tflm.astype(np.float64) - ref_kernels).max():.4g}")
    saved = json.loads((tmp_path / "mcu" / "mcu.json").read_text())
    assert all("built-in kernels" in row["parity"]["rule"] for row in saved["results"] if row["target"] == "tflm")


def test_minimum_arena_allocates_and_one_byte_less_does_not(foreign, mpg_nn):
    from edgekit.convert.tflm import check_tflm

    for model in (foreign.cnn_int8, mpg_nn.export("tflite-int8")):
        arena = check_tflm(model).result.arena_bytes
        assert bare_tflm(model, arena)[0] == 0
        for smaller in (arena - 1, arena - 16, arena - 1024):
            assert bare_tflm(model, smaller)[0] == 3, f"{model.name}: {smaller} bytes allocated too"


def test_over_budget_is_a_failed_row_with_both_numbers(foreign):
    from edgekit.convert.tflm import check_tflm

    fits = check_tflm(foreign.cnn_int8).result
    flash, ram = fits.flash_bytes, fits.ram_bytes
    r = check_tflm(foreign.cnn_int8, budget=McuBudget(ram_bytes=ram - 1, flash_bytes=flash - 1)).result
    assert r.status == "failed" and r.budget["fits"] is False
    for needed, limit in ((flash, flash - 1), (ram, ram - 1)):
        assert f"{needed:,} B" in r.reason and f"{limit:,} B" in r.reason
    assert check_tflm(foreign.cnn_int8, budget=McuBudget(ram_bytes=ram, flash_bytes=flash)).result.status == "passed"


@pytest.mark.parametrize("variant, tflm_says", [("tflite-fp16", "DEQUANTIZE"),
                                                ("tflite-dynamic", "FLOAT32 with filter type: INT8 not supported")])
def test_float16_and_dynamic_exports_are_failed_rows_with_tflms_reason(mpg_nn, tmp_path, variant, tflm_says):
    from edgekit.convert.mcu import convert_mcu

    model = mpg_nn.export(variant)
    assert bare_tflm(model, 1 << 20)[0] == 3  # TFLM itself refuses the file
    report = convert_mcu(model, tmp_path / "mcu")
    [row] = report.results
    assert row.status == "failed" and tflm_says in row.reason
    assert not report.passed
    assert sorted(p.name for p in (tmp_path / "mcu").iterdir()) == ["mcu.json", "mcu.md"]


def test_an_op_tflm_lacks_is_named_before_any_file_is_written(tmp_path):
    import tensorflow as tf

    from edgekit.convert.tflm import check_tflm
    from edgekit.convert.tflm_artifacts import write_tflm_artifacts
    from edgekit.runtime.errors import ConversionError

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
    def sign(x):
        return {"y": tf.math.sign(x) * 2.0}

    model = tmp_path / "sign.tflite"
    model.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([sign.get_concrete_function()], sign).convert())
    assert bare_tflm(model, 1 << 16)[0] == 3  # TFLM has no SIGN kernel
    check = check_tflm(model)
    assert check.result.status == "failed" and "SIGN" in check.result.reason and check.result.ops == ["SIGN", "MUL"]
    with pytest.raises(ConversionError, match="no kernel for SIGN"):
        write_tflm_artifacts(check, tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_a_crash_inside_tflm_is_a_failed_attempt_not_a_dead_process():
    import os
    import signal

    from edgekit.convert import tflm_worker

    def segfault():
        os.kill(os.getpid(), signal.SIGSEGV)

    status, value, _ = tflm_worker._in_child(segfault)
    assert status == "crash" and f"signal {int(signal.SIGSEGV)}" in value
    assert tflm_worker._in_child(lambda: 42)[:2] == ("ok", 42)


def test_a_target_that_cannot_be_checked_is_a_failed_row(foreign, tmp_path, monkeypatch):
    import json

    import edgekit.convert.tflm as tflm
    from edgekit.convert.mcu import convert_mcu
    from edgekit.runtime.errors import ConversionError

    def worker_died(*args, **kwargs):
        raise ConversionError("the TFLite Micro worker exited with status -9")

    monkeypatch.setattr(tflm, "_run_worker", worker_died)
    report = convert_mcu(foreign.cnn_int8, tmp_path / "mcu")
    [row] = json.loads((tmp_path / "mcu" / "mcu.json").read_text())["results"]
    assert row["status"] == "failed" and "status -9" in row["reason"] and not report.passed
