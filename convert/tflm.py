"""TFLite Micro target: does a .tflite model run on a microcontroller, in how much RAM,
and does it still give the same answers?

:func:`check_tflm` runs the model in the real TFLM interpreter (the ``tflite-micro``
package, in a worker process: see ``tflm_worker.py``) and in LiteRT with its reference
built-in kernels without the XNNPACK delegate (see ``REFERENCE_RESOLVER``), one row at a
time as firmware does, and compares the outputs in quantisation steps: the raw integers of an
int8/uint8 output, or the scale of the int8 tensor a float output was dequantised from.
It finds the smallest tensor arena that allocates and runs (bisection to the byte) and
checks flash and RAM against a :class:`McuBudget`. A model TFLM cannot run (float16 or
dynamic-range kernels, a missing op) becomes a failed row carrying TFLM's own message.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from edgekit.convert.mcu_budget import McuBudget
from edgekit.convert.mcu_report import McuResult, judge_metric
from edgekit.convert.tflm_ops import OpUse, model_ops
from edgekit.runtime.backends.litert import _spec
from edgekit.runtime.errors import ConversionError, MissingDependencyError, ModelLoadError, SchemaError
from edgekit.runtime.native_stderr import filtered_stderr
from edgekit.runtime.tensors import prepare_feeds, synthetic_feeds

WORKER = Path(__file__).with_name("tflm_worker.py")
WORKER_TIMEOUT = 600  # seconds for the arena search plus one pass over the rows
SYNTHETIC_ROWS = 64  # random rows when no test data is given
# The arena is measured on a 64-bit host with reference kernels and TFLM's recording
# allocator. Optimised kernels (CMSIS-NN, ESP-NN) may request scratch buffers the
# reference ones do not, so the constant firmware reserves adds 10% (at least 256 bytes).
ARENA_MARGIN = 0.10
ARENA_MARGIN_MIN = 256
ARENA_ALIGN = 16
_COMPUTE_OPS = {"FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "BATCH_MATMUL", "TRANSPOSE_CONV", "SVDF",
                "UNIDIRECTIONAL_SEQUENCE_LSTM"}
_INT_TYPES = {np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16)}
_SHAPE_OPS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}
_AFFINE_OPS = {"ADD", "SUB", "MUL", "DIV"}
# Float outputs are (q - zero_point) * scale in float32: a step is "one" up to its rounding.
STEP_SLACK = 1e-3
TRACE_ROWS = 50  # rows traced tensor by tensor when outputs differ by more than a step
# The LiteRT kernels TFLM is compared with. TFLM's int8 kernels requantise with gemmlowp's
# double rounding (SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT); so do
# LiteRT's built-in optimised kernels. Its reference kernels (BUILTIN_REF) round once, and
# XNNPACK rounds its own way. Measured on the digits network's int8 export (360 test rows):
# BUILTIN_REF's first FULLY_CONNECTED differed from TFLM in 209 of 92,160 values by one step,
# which the SOFTMAX grew to 6 steps on 2 rows; the built-in kernels matched TFLM bit for bit
# on every tensor of every row. The foreign digits CNN: 394/397 rows within a step (max 4)
# against BUILTIN_REF, 397/397 (max 1) against the built-in kernels.
REFERENCE_RESOLVER = "BUILTIN_WITHOUT_DEFAULT_DELEGATES"
REFERENCE_NAME = "LiteRT's built-in kernels (no XNNPACK)"


def arena_constant(measured: int) -> int:
    """kTensorArenaSize for a measured minimum: the margin added, rounded up to 16 bytes."""
    padded = measured + max(ARENA_MARGIN_MIN, math.ceil(measured * ARENA_MARGIN))
    return -(-padded // ARENA_ALIGN) * ARENA_ALIGN


@dataclass
class TflmCheck:
    """A checked model: its row, and what the C artifacts are made of."""

    result: McuResult
    content: bytes
    ops: tuple[OpUse, ...]
    tflm_version: str | None = None

    @property
    def passed(self) -> bool:
        return self.result.status == "passed"


def check_tflm(model: str | os.PathLike, feeds: Mapping[str, Any] | Sequence[np.ndarray] | None = None, *,
               name: str | None = None, y_true: np.ndarray | None = None, metric: Any = None,
               source_metric: float | None = None, target_scale: float = 1.0, max_degradation: float = 2.0,
               budget: McuBudget | None = None, decode: Callable[[list[np.ndarray]], np.ndarray] | None = None,
               source: str | None = None) -> TflmCheck:
    """Run ``model`` in TFLM and LiteRT's built-in kernels on ``feeds`` (input name ->
    rows, or arrays in the model's input order; float into an int8/uint8 input is
    quantised; None: 64 seeded random rows) and return its MCU row.

    With ``y_true`` and ``metric`` (an ``edgekit.train.metrics.Metric``) the task metric of
    both is reported; with ``source_metric`` too, a loss beyond ``max_degradation`` percent
    rejects the row, as the conversion gate does. ``source`` names the model in the row."""
    path = Path(model)
    started = time.perf_counter()
    budget = budget or McuBudget()
    content = _read(path)
    name = name or f"tflm-{path.stem}"
    ops = model_ops(content, path.name)
    result = McuResult(name, "tflm", source=source or path.name, flash_bytes=len(content), ops=[op.name for op in ops])
    check = TflmCheck(result, content, ops)
    missing = [op.name for op in ops if op.method is None]
    if missing:
        result.refuse("failed", f"TFLite Micro has no kernel for {', '.join(missing)}; no file was written")
        return check
    reference = _Reference(content, path.name)
    result.precision = reference.precision
    arrays = reference.prepare(feeds)
    expected = reference.run(arrays)
    answer, outputs = _run_worker(content, arrays, name=path.name)
    check.tflm_version = answer["tflm"]["build"]
    result.tools = {"tflite-micro": answer["tflm"]["package"], "tflite-micro build": answer["tflm"]["build"]}
    search = answer.get("arena", {})
    if not search.get("ok"):
        result.refuse("failed", f"TFLite Micro refused the model: {search.get('reason')}")
        return check
    run = answer["run"]
    if not run["ok"]:
        result.refuse("failed", f"TFLite Micro failed to run the model: {run['reason']}")
        return check
    result.arena_bytes = search["arena_bytes"]
    result.ram_bytes = arena_constant(result.arena_bytes)
    result.sizes = {"model_bytes": len(content), "arena_bytes": result.arena_bytes,
                    "recorded_arena_bytes": search.get("recorded_bytes"), "arena_constant": result.ram_bytes,
                    "arena_search_attempts": search.get("attempts")}
    result.parity = parity = reference.compare(outputs, expected)
    parity["origin"] = _kernel_origin(reference, content, arrays, parity, path.name)
    reasons, notes = [], []
    if parity["agreement"] < 1.0:
        outside = (f"outputs differ from {REFERENCE_NAME} by up to {parity['max_steps']:.3g} quantisation "
                   f"steps on {parity['rows'] - parity['within_rows']} of {parity['rows']} rows")
        origin = parity["origin"] or {}
        if origin.get("kernels_within_one_step"):
            kernels = ", ".join(f"{op} ({n} rows)" for op, n in origin["first_divergence"].items())
            notes.append(f"{outside}, grown from one-step rounding differences in {kernels}: every kernel agrees "
                         "within one step given the same inputs")
        else:
            reasons.append(outside + (f"; the first differing kernel is off by {origin['max_kernel_steps']:.3g} steps"
                                      if origin.get("max_kernel_steps") else ""))
    if y_true is not None and metric is not None:
        decode = decode or default_decode
        result.metric = judge_metric(metric, y_true, decode(reference.dequantize(outputs)), source_metric=source_metric,
                                     target_scale=target_scale, max_degradation=max_degradation, where="on TFLM")
        result.metric["reference"] = float(metric.fn(np.asarray(y_true), decode(reference.dequantize(expected))))
        if result.metric.get("passed") is False:
            reasons.append(result.metric["reason"])
    result.settle(budget, reasons=reasons, notes=notes)
    result.seconds = time.perf_counter() - started
    return check


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read the model ({exc.strerror})") from exc


class _Reference:
    """LiteRT with the kernels TFLM is compared with (``REFERENCE_RESOLVER``) at batch 1, inputs and outputs in the subgraph's
    order (TFLM's indices), named as the edgekit runtime names them."""

    def __init__(self, content: bytes, name: str):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        try:
            with filtered_stderr():
                interp = Interpreter(model_content=content, num_threads=1,
                                     experimental_op_resolver_type=getattr(OpResolverType, REFERENCE_RESOLVER))
                interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{name}: LiteRT refused the model: {exc}") from exc
        self.name = name
        self._content = content
        self._interp = interp
        ins, outs = interp.get_input_details(), interp.get_output_details()
        in_names, out_names = _signature_names(interp, ins, outs)
        self.inputs = tuple(_spec(n, d) for n, d in zip(in_names, ins))
        self.outputs = tuple(_spec(n, d) for n, d in zip(out_names, outs))
        self._in_index = [int(d["index"]) for d in ins]
        self._out_index = [int(d["index"]) for d in outs]
        self.ops = interp._get_ops_details()
        self.steps = [self._step(d) for d in outs]
        self.precision = self._precision()

    def _step(self, detail: dict) -> float | None:
        """One quantisation step of an output in its own units, None for a float model.

        A float output is the int8 result dequantised, possibly then rescaled in float
        (edgekit regressions end in ``y * std + mean``): the step follows DEQUANTIZE's scale
        through reshapes and through ADD/SUB/MUL/DIV by constants."""
        if _spec(detail["name"], detail).quantized:
            return 1.0
        producers = {int(t): op for op in self.ops for t in op["outputs"]}
        index, factor = int(detail["index"]), 1.0
        for _ in range(len(self.ops)):
            op = producers.get(index)
            if op is None:
                return None
            name, inputs = op["op_name"], [int(t) for t in op["inputs"] if int(t) >= 0]
            if name == "DEQUANTIZE":
                scales = self._interp._get_tensor_details(inputs[0], 0)["quantization_parameters"]["scales"]
                return factor * float(np.max(scales)) if len(scales) else None
            computed = [t for t in inputs if t in producers or t in self._in_index]
            if name in _SHAPE_OPS and computed:
                index = computed[0]
                continue
            if name not in _AFFINE_OPS or len(computed) != 1:
                return None
            constants = [self._constant(t) for t in inputs if t != computed[0]]
            if any(c is None for c in constants):
                return None
            if name == "MUL":
                factor *= float(np.max(np.abs(constants[0])))
            elif name == "DIV":
                if inputs[0] != computed[0]:
                    return None  # c / x is not affine in x
                factor /= float(np.min(np.abs(constants[0])))
            index = computed[0]
        return None

    def _constant(self, index: int) -> np.ndarray | None:
        try:
            return np.asarray(self._interp.get_tensor(index), dtype=np.float64)
        except ValueError:
            return None

    def _precision(self) -> str:
        compute = [op for op in self.ops if op["op_name"] in _COMPUTE_OPS]
        types = [[np.dtype(t) for t in op["operand_types"]] for op in compute]
        io_float = any(not s.quantized and s.dtype.startswith("float") for s in self.inputs + self.outputs)
        if compute and all(t[0] in _INT_TYPES for t in types):
            return "int8, float I/O" if io_float else "int8"
        if any(op["op_name"] == "DEQUANTIZE" and np.dtype(op["operand_types"][0]) == np.float16 for op in self.ops):
            return "float16 weights"
        if any(len(t) > 1 and t[1] in _INT_TYPES for t in types):
            return "dynamic-range (float with int8 weights)"
        return "float32"

    def prepare(self, feeds) -> list[np.ndarray]:
        for spec in self.inputs:
            if spec.rank == 0 or spec.shape[0] not in (None, 1):
                raise SchemaError(f"{self.name}: input {spec.name!r} {spec.shape_text()} has no batch dimension of 1; "
                                  "the MCU check runs one row at a time")
        if feeds is None:
            shapes = {s.name: (SYNTHETIC_ROWS,) + tuple(1 if d is None else d for d in s.shape[1:]) for s in self.inputs}
            feeds = synthetic_feeds(self.inputs, shapes, seed=0)
        elif not isinstance(feeds, Mapping):
            feeds = list(feeds)
            if len(feeds) != len(self.inputs):
                raise SchemaError(f"{self.name} has {len(self.inputs)} input(s); got {len(feeds)} array(s)")
            feeds = {s.name: a for s, a in zip(self.inputs, feeds)}
        arrays = prepare_feeds(self.inputs, feeds)
        rows = {len(a) for a in arrays}
        if len(rows) != 1 or 0 in rows:
            raise SchemaError(f"{self.name}: every input needs the same, non-zero number of rows; got {sorted(rows)}")
        return arrays

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        interp, collected = self._interp, [[] for _ in self._out_index]
        for r in range(len(arrays[0])):
            for index, array in zip(self._in_index, arrays):
                interp.set_tensor(index, array[r : r + 1])
            interp.invoke()
            for bucket, index in zip(collected, self._out_index):
                bucket.append(interp.get_tensor(index).copy())
        return [np.concatenate(b, axis=0) for b in collected]

    def compare(self, actual: list[np.ndarray], expected: list[np.ndarray]) -> dict[str, Any]:
        rows = len(expected[0])
        steps = np.zeros(rows)
        for got, want, step in zip(actual, expected, self.steps):
            if got.shape != want.shape:
                raise ConversionError(f"{self.name}: TFLM returned shape {got.shape}, LiteRT {want.shape}")
            diff = np.abs(got.astype(np.float64) - want.astype(np.float64)).reshape(rows, -1).max(axis=1)
            unit = step if step is not None else 1e-5 * max(1.0, float(np.abs(want).max()))
            steps = np.maximum(steps, diff / unit)
        within = steps <= 1.0 + STEP_SLACK
        quantised = all(s is not None for s in self.steps)
        return {"rows": rows, "agreement": float(within.mean()), "within_rows": int(within.sum()),
                "exact": float((steps <= STEP_SLACK).mean()), "max_steps": float(steps.max()),
                "_outside_rows": [int(r) for r in np.flatnonzero(~within)],
                "within": "within 1 step" if quantised else "within 1e-5",
                "reference": REFERENCE_NAME,
                "rule": (f"every output within one quantisation step of {REFERENCE_NAME}" if quantised else
                         f"float outputs within 1e-5 (relative) of {REFERENCE_NAME}")}

    def trace(self, arrays: list[np.ndarray], rows: list[int], tensors: list[int]) -> dict[int, dict[int, np.ndarray]]:
        """Every listed tensor of every listed row, kept by a second interpreter."""
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        with filtered_stderr():
            interp = Interpreter(model_content=self._content, experimental_preserve_all_tensors=True, num_threads=1,
                                 experimental_op_resolver_type=getattr(OpResolverType, REFERENCE_RESOLVER))
            interp.allocate_tensors()
        kept = {}
        for r in rows:
            for index, array in zip(self._in_index, arrays):
                interp.set_tensor(index, array[r : r + 1])
            interp.invoke()
            kept[r] = {t: interp.get_tensor(t).copy() for t in tensors}
        return kept

    def tensor_steps(self, index: int, got: np.ndarray, want: np.ndarray) -> float:
        """How far apart two values of one tensor are, in its quantisation steps."""
        diff = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max()) if want.size else 0.0
        detail = self._interp._get_tensor_details(index, 0)
        if _spec(detail["name"], detail).quantized:
            return diff
        return diff / (1e-5 * max(1.0, float(np.abs(want).max()) if want.size else 1.0))

    def dequantize(self, outputs: list[np.ndarray]) -> list[np.ndarray]:
        return [s.quantization.dequantize(o) if s.quantized else o.astype(np.float32) for s, o in zip(self.outputs, outputs)]


def _signature_names(interp, ins: list[dict], outs: list[dict]) -> tuple[list[str], list[str]]:
    """Signature keys when a signature covers the subgraph's tensors (as the runtime names
    them), tensor names otherwise."""
    in_names = {int(d["index"]): d["name"] for d in ins}
    out_names = {int(d["index"]): d["name"] for d in outs}
    try:
        signatures = interp.get_signature_list()
    except (AttributeError, ValueError, RuntimeError):
        signatures = {}
    for key in signatures:
        runner = interp.get_signature_runner(key)
        sig_in = {int(d["index"]): n for n, d in runner.get_input_details().items()}
        sig_out = {int(d["index"]): n for n, d in runner.get_output_details().items()}
        if set(sig_in) == set(in_names) and set(sig_out) == set(out_names):
            in_names, out_names = sig_in, sig_out
            break
    return [in_names[int(d["index"])] for d in ins], [out_names[int(d["index"])] for d in outs]


def _run_worker(content: bytes, arrays: list[np.ndarray], *, trace: tuple[list[int], list[int]] | None = None,
                name: str = "model") -> tuple[dict, list[np.ndarray] | dict[str, np.ndarray]]:
    """Search the arena and run every row (or, with ``trace=(rows, tensors)``, keep those
    tensors of those rows) in the worker; return its answer and the arrays it wrote."""
    if importlib.util.find_spec("tflite_micro") is None:
        raise MissingDependencyError("tflite-micro", "mcu", purpose="to run models in TensorFlow Lite Micro")
    with tempfile.TemporaryDirectory(prefix="edgekit-tflm-") as tmp:
        folder = Path(tmp)
        model_path, inputs, outputs = folder / "model.tflite", folder / "inputs.npz", folder / "outputs.npz"
        model_path.write_bytes(content)  # the exact bytes checked here, even if the file changes meanwhile
        np.savez(inputs, **{f"in{i}": a for i, a in enumerate(arrays)})
        if trace is None:
            request = {"model": str(model_path), "arena": {"max": None},
                       "run": {"inputs": str(inputs), "outputs": str(outputs), "arena": None}}
        else:
            request = {"model": str(model_path), "arena": None, "run": None,
                       "trace": {"inputs": str(inputs), "rows": trace[0], "tensors": trace[1], "outputs": str(outputs)}}
        (folder / "request.json").write_text(json.dumps(request), encoding="utf-8")
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}  # the worker forks
        try:
            done = subprocess.run([sys.executable, str(WORKER), str(folder / "request.json"), str(folder / "result.json")],
                                  capture_output=True, text=True, timeout=WORKER_TIMEOUT, env=env)
        except subprocess.TimeoutExpired as exc:
            raise ConversionError(f"{name}: TFLite Micro did not finish within {WORKER_TIMEOUT} s") from exc
        if done.returncode != 0 or not (folder / "result.json").is_file():
            tail = (done.stderr or "").strip().splitlines()[-3:]
            raise ConversionError(f"{name}: the TFLite Micro worker exited with status {done.returncode}: "
                                  + " | ".join(tail))
        answer = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        written: list[np.ndarray] | dict[str, np.ndarray] = []
        if outputs.is_file():
            with np.load(outputs) as npz:
                written = {k: npz[k] for k in npz.files} if trace else [npz[f"out{k}"] for k in range(len(npz.files))]
    return answer, written


def _kernel_origin(reference: "_Reference", content: bytes, arrays: list[np.ndarray], parity: dict[str, Any],
                   name: str) -> dict[str, Any] | None:
    """For rows whose outputs differ by more than a step: the first kernel whose output
    differs, given identical inputs, and by how many steps. A one-step rounding difference
    in a FULLY_CONNECTED grows through a SOFTMAX; a kernel that is itself off is a bug."""
    rows = parity.pop("_outside_rows")
    if not rows:
        return None
    rows = rows[:TRACE_ROWS]
    tensors = sorted({int(t) for op in reference.ops for t in op["outputs"]})
    answer, kept = _run_worker(content, arrays, trace=(rows, tensors), name=name)
    if not answer.get("trace", {}).get("ok"):
        return {"rows": len(rows), "error": answer.get("trace", {}).get("reason")}
    expected = reference.trace(arrays, rows, tensors)
    first: dict[str, int] = {}
    worst = 0.0
    for r in rows:
        for op in reference.ops:
            steps = max(reference.tensor_steps(int(t), kept[f"r{r}_t{int(t)}"], expected[r][int(t)])
                        for t in op["outputs"])
            if steps > STEP_SLACK:
                first[op["op_name"]] = first.get(op["op_name"], 0) + 1
                worst = max(worst, steps)
                break
    return {"rows": len(rows), "first_divergence": first, "max_kernel_steps": worst,
            "kernels_within_one_step": worst <= 1.0 + STEP_SLACK}


def default_decode(outputs: list[np.ndarray]) -> np.ndarray:
    """The first output as predictions: class index for scores [n, k > 1], values otherwise."""
    y = outputs[0]
    return np.argmax(y.reshape(len(y), -1), axis=1) if y.ndim >= 2 and y.shape[-1] > 1 else y.reshape(-1)
