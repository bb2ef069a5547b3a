"""TFLite Micro in a separate process: the minimum tensor arena, and a model run row by row.

Run as a script by :mod:`edgekit.convert.tflm` (``python tflm_worker.py REQUEST.json``);
it imports numpy and ``tflite_micro`` only. TFLM is firmware code: an arena of a few
hundred bytes makes its allocator underflow and the process segfaults instead of
raising, so every attempt runs in a forked child and a crash is just a failed attempt.
The request and the result are JSON; inputs and outputs travel as .npz files.

Request: ``{"model": PATH, "arena": {"max": BYTES} | null,
"run": {"inputs": NPZ, "outputs": NPZ, "arena": BYTES | null} | null,
"trace": {"inputs": NPZ, "rows": [INT], "tensors": [INT], "outputs": NPZ} | null}``.
A trace keeps every tensor (TFLM's kPreserveAllTensors) to find which kernel a
difference starts in.
"""

import json
import os
import sys

# Run as a script, this folder is sys.path[0], and its modules (options.py, metadata.py...)
# would shadow real packages of the same name.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != _HERE]

import faulthandler  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402

ALLOCATION_FAILURE = re.compile(r"Failed to (allocate|resize)|missing: \d+")
RECORDED_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")
FIRST_ARENA = 16 * 1024
ARENA_CAP = 64 * 1024 * 1024
_LOG_TAIL = 2000


def _in_child(task, *args):
    """Run ``task(*args)`` in a forked child; return (status, value, native log).

    status: "ok", "error" (a Python exception, its text in value) or "crash" (a signal)."""
    read_fd, write_fd = os.pipe()
    log = tempfile.TemporaryFile()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child: fd 2 into the log, the answer into the pipe, never return
        code = 0
        try:
            os.close(read_fd)
            os.dup2(log.fileno(), 2)
            faulthandler.disable()  # a crash here is an expected outcome, not a report to print
            try:
                answer = {"status": "ok", "value": task(*args)}
            except Exception as exc:  # TFLM raises RuntimeError/ValueError
                answer = {"status": "error", "value": f"{type(exc).__name__}: {exc}"}
            with os.fdopen(write_fd, "w") as pipe:
                json.dump(answer, pipe)
        except BaseException:
            code = 70
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    log.seek(0)
    native = log.read().decode("utf-8", "replace")[-_LOG_TAIL:]
    log.close()
    if os.WIFSIGNALED(status):
        return "crash", f"killed by signal {os.WTERMSIG(status)}", native
    if not text:
        return "crash", f"exited with status {os.WEXITSTATUS(status)}", native
    answer = json.loads(text)
    return answer["status"], answer["value"], native


def _interpreter(data, arena):
    from tflite_micro import runtime

    return runtime.Interpreter.from_bytes(data, arena_size=int(arena))


def _allocates(data, arena):
    _interpreter(data, arena)
    return True


def _record(data, arena):
    """Invoke once on zeros and read TFLM's own allocation record (printed on fd 2)."""
    import numpy as np

    interp = _interpreter(data, arena)
    index = 0
    while True:
        try:
            detail = interp.get_input_details(index)
        except (RuntimeError, ValueError, IndexError):
            break
        interp.set_input(np.zeros(detail["shape"], detail["dtype"]), index)
        index += 1
    interp.invoke()
    sys.stderr.flush()
    os.fsync(2)
    interp.print_allocations()
    return True


def _run(data, arena, inputs_path, outputs_path):
    import numpy as np

    interp = _interpreter(data, arena)
    with np.load(inputs_path) as npz:
        feeds = [npz[f"in{i}"] for i in range(len(npz.files))]
    rows = len(feeds[0]) if feeds else 0
    outputs = None
    for r in range(rows):
        for i, feed in enumerate(feeds):
            interp.set_input(feed[r : r + 1], i)
        interp.invoke()
        if outputs is None:
            outputs = [[] for _ in range(_count_outputs(interp))]
        for k, bucket in enumerate(outputs):
            bucket.append(np.array(interp.get_output(k), copy=True))
    np.savez(outputs_path, **{f"out{k}": np.concatenate(b, axis=0) for k, b in enumerate(outputs or [])})
    interp.print_allocations()
    return rows


def _trace(data, arena, inputs_path, rows, tensors, outputs_path):
    import numpy as np
    from tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(data, arena_size=int(arena),
                                            intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    with np.load(inputs_path) as npz:
        feeds = [npz[f"in{i}"] for i in range(len(npz.files))]
    kept = {}
    for r in rows:
        for i, feed in enumerate(feeds):
            interp.set_input(feed[r : r + 1], i)
        interp.invoke()
        for t in tensors:
            tensor = interp.GetTensor(t, 0)
            kept[f"r{r}_t{t}"] = np.asarray(tensor["tensor_data"]).reshape(tuple(tensor["shape"]))
    np.savez(outputs_path, **kept)
    return len(rows)


def _count_outputs(interp):
    count = 0
    while True:
        try:
            interp.get_output_details(count)
        except (RuntimeError, ValueError, IndexError):
            return count
        count += 1


def find_arena(data, cap=ARENA_CAP):
    """The smallest arena_size that allocates, to the byte, with the evidence."""
    attempts = 0
    high = max(FIRST_ARENA, 10 * len(data))
    while True:
        attempts += 1
        status, value, native = _in_child(_allocates, data, high)
        if status == "ok":
            break
        if status == "crash" or not ALLOCATION_FAILURE.search(native) or high >= cap:
            # Not a matter of arena size (an unsupported type or op), or beyond any MCU.
            return {"ok": False, "reason": _reason(value, native, high), "attempts": attempts}
        high = min(high * 4, cap)
    low = 0  # an empty arena never allocates
    while high - low > 1:
        middle = (low + high) // 2
        attempts += 1
        status, _, _ = _in_child(_allocates, data, middle)
        if status == "ok":
            high = middle
        else:
            low = middle
    recorded = None
    status, value, native = _in_child(_record, data, high)
    if status == "ok":
        match = RECORDED_TOTAL.search(native)
        recorded = int(match.group(1)) if match else None
    else:
        return {"ok": False, "reason": "allocates but fails to run: " + _reason(value, native, high),
                "attempts": attempts}
    return {"ok": True, "arena_bytes": high, "recorded_bytes": recorded, "attempts": attempts + 1}


def _reason(value, native, arena):
    lines = [line.strip() for line in native.splitlines() if line.strip()]
    detail = "; ".join(lines[-4:]) if lines else ""
    return f"{value} (arena {arena} bytes)" + (f": {detail}" if detail else "")


def _version():
    try:
        from importlib.metadata import version

        package = version("tflite-micro")
    except Exception:
        package = "unknown"
    try:
        from tflite_micro.python.tflite_micro._version import __version__ as build
    except ImportError:
        build = package
    return {"package": package, "build": build}


def main(request_path):
    with open(request_path, encoding="utf-8") as handle:
        request = json.load(handle)
    with open(request["model"], "rb") as handle:
        data = handle.read()
    result = {"tflm": _version()}
    arena = None
    if request.get("arena") is not None:
        search = find_arena(data, int(request["arena"].get("max") or ARENA_CAP))
        result["arena"] = search
        if not search["ok"]:
            return result
        arena = search["arena_bytes"]
    run = request.get("run")
    if run is not None:
        size = run.get("arena") or arena or max(FIRST_ARENA, 10 * len(data))
        status, value, native = _in_child(_run, data, size, run["inputs"], run["outputs"])
        result["run"] = {"ok": status == "ok", "arena_bytes": size,
                         "rows": value if status == "ok" else None,
                         "reason": None if status == "ok" else _reason(value, native, size)}
        match = RECORDED_TOTAL.search(native)
        result["run"]["recorded_bytes"] = int(match.group(1)) if match else None
    trace = request.get("trace")
    if trace is not None:
        # Keeping every tensor needs more than the minimum arena.
        size = max(FIRST_ARENA, 10 * len(data), 8 * (arena or 0))
        status, value, native = _in_child(_trace, data, size, trace["inputs"], trace["rows"], trace["tensors"],
                                          trace["outputs"])
        result["trace"] = {"ok": status == "ok", "reason": None if status == "ok" else _reason(value, native, size)}
    return result


if __name__ == "__main__":
    answer = main(sys.argv[1])
    with open(sys.argv[2], "w", encoding="utf-8") as out:
        json.dump(answer, out)
