"""``load``: verify a model file, read its manifest, open a backend.

Any .tflite/.onnx/.ort file loads as a :class:`TensorModel` (the tensor layer); a file
carrying an edgekit tabular manifest loads as the tabular :class:`Model` built on it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from edgekit.runtime import backends, seal
from edgekit.runtime.errors import ConfigError, IntegrityError, MissingDependencyError, ModelLoadError
from edgekit.runtime.image_model import ImageModel, is_image_manifest
from edgekit.runtime.manifest import METADATA_KEY, SIDECAR_NAME, Manifest, parse_manifest
from edgekit.runtime.model import Model
from edgekit.runtime.tensor_model import TensorModel
from edgekit.runtime.onnx_file import check_external_data, inspect_onnx
from edgekit.runtime.tflite_file import FILE_IDENTIFIER, inspect_tflite

MAX_MODEL_BYTES = 2 << 30
_ORT_IDENTIFIER = b"ORTM"


def detect_format(head: bytes, path: Path) -> str:
    """'tflite', 'ort' or 'onnx' from the file's first bytes, the extension as a tie-break."""
    if head[4:8] == FILE_IDENTIFIER:
        return "tflite"
    if head[4:8] == _ORT_IDENTIFIER:
        return "ort"
    # An ONNX ModelProto starts with field 1 (ir_version, varint): tag byte 0x08.
    if head[:1] == b"\x08":
        return "onnx"
    suffix = path.suffix.lower().lstrip(".")
    hint = f" despite its .{suffix} extension" if suffix in ("tflite", "onnx", "ort") else ""
    raise ModelLoadError(
        f"{path.name}: not a TFLite, ONNX or ORT model{hint}",
        hint="edgekit runs .tflite (LiteRT), .onnx and .ort (ONNX Runtime) model files",
    )


def read_manifest(path: str | os.PathLike, *, required: bool = True):
    """The manifest of a model file (embedded, completed by the sidecar), without a backend.

    A :class:`Manifest` for tabular exports, a ``TensorManifest`` for converted foreign
    models; ``None`` for a file edgekit never touched when ``required`` is false."""
    path = Path(path)
    content = _read(path)
    fmt = detect_format(content[:8], path)
    embedded, _, _ = _embedded(content, fmt, path)
    manifest = _merge(embedded, _sidecar(path))
    if manifest is None and required:
        raise ModelLoadError(
            f"{path.name}: no edgekit manifest inside the file or beside it",
            hint="'edgekit info' still describes its tensors; 'edgekit convert' embeds a manifest",
        )
    return manifest


def load(
    path: str | os.PathLike,
    *,
    threads: int | None = None,
    backend: str | None = None,
    verify: bool = True,
    log: str | os.PathLike | None = None,
    signature: str | None = None,
) -> Model | TensorModel:
    """Load a .tflite/.onnx/.ort file: the tabular :class:`Model` for edgekit tabular
    exports, a :class:`TensorModel` for any other model file. Both have ``inputs``,
    ``outputs`` and ``run(feeds)``.

    The file's structure is checked before native code sees it; with ``verify`` (the
    default) its sha256 must match the manifest when one records it. ``threads`` sets the
    backend's thread count; ``backend`` forces one (see ``edgekit.runtime.backends``);
    ``signature`` picks a TFLite signature when a file has several. ``log`` names a SQLite
    prediction log (tabular models: the feature rows; image models: per-image statistics).
    """
    path = Path(path)
    content = _read(path)
    sidecar = _sidecar(path)
    if verify and sidecar is not None and not sidecar.sha256:
        raise IntegrityError(f"{path.name}: its sidecar manifest records no sha256, so the file cannot be verified",
                             hint="re-export with 'edgekit convert', or pass verify=False / --no-verify")
    # The recorded hash is checked before any parser sees the bytes: with a sidecar, a
    # corrupted copy is refused as such, never half-parsed.
    verified = verify and sidecar is not None and bool(sidecar.sha256)
    if verified:
        _verify(content, sidecar.sha256, path)
    # The sealed digest is found by a scan of the raw bytes, before any parser runs.
    sealed = verify and seal.check(content, path.name)
    fmt = detect_format(content[:8], path)
    embedded, onnx_info, metadata = _embedded(content, fmt, path)
    if verify and embedded is not None and embedded.sealed and not sealed:
        raise IntegrityError(f"{path.name}: its embedded manifest should carry the file's sealed digest but does not; "
                             "the file is corrupted or was changed",
                             hint="copy the export again, or pass verify=False / --no-verify to run it anyway")
    verified = verified or sealed
    manifest = _merge(embedded, sidecar)
    if verify and manifest is not None and manifest.sha256 and not verified:
        _verify(content, manifest.sha256, path)
        verified = True
    tabular = isinstance(manifest, Manifest)
    image = not tabular and is_image_manifest(manifest)
    if log is not None and not (tabular or image):
        raise ConfigError(f"{path.name}: the prediction log needs an edgekit tabular or image export",
                          hint="drop --log for raw tensor models")
    engine = _open_backend(fmt, content, path, manifest if tabular else None, threads, backend, onnx_info, signature)
    digest = hashlib.sha256(content).hexdigest()
    tensor_class = ImageModel if image else TensorModel  # an adapter above the tensor layer
    tensor = tensor_class(path, fmt, engine, sha256=digest, size_bytes=len(content),
                         manifest=None if tabular else manifest, metadata=metadata, verified=verified)
    if image and log is not None:
        tensor.attach_log(log)  # image statistics, never pixels
    if not tabular:
        return tensor
    _check_io(engine, manifest, path)
    logger = None
    if log is not None:
        from edgekit.runtime.prediction_log import PredictionLog

        logger = PredictionLog(log, model_id=manifest.sha256 or digest, schema=manifest.schema)
    return Model(path, manifest, engine, logger=logger, tensor=tensor)


def _verify(content: bytes, expected: str, path: Path) -> None:
    digest = hashlib.sha256(content).hexdigest()
    if digest != expected:
        raise IntegrityError(
            f"{path.name}: sha256 {digest[:12]}… does not match its manifest ({str(expected)[:12]}…); "
            "the file is corrupted or was changed",
            hint="copy the export again, or pass verify=False / --no-verify to run it anyway",
        )


def _read(path: Path) -> bytes:
    if not path.exists():
        raise ModelLoadError(f"{path}: no such model file")
    if not path.is_file():
        raise ModelLoadError(f"{path}: not a file")
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ModelLoadError(f"{path.name}: {size} bytes is larger than the {MAX_MODEL_BYTES >> 30} GiB limit")
    if size == 0:
        raise ModelLoadError(f"{path.name}: empty file")
    return path.read_bytes()


def _embedded(content: bytes, fmt: str, path: Path) -> tuple[Any, Any, dict]:
    """(embedded manifest or None, ONNX file info or None, raw metadata entries)."""
    if fmt == "tflite":
        info = inspect_tflite(content, path.name)
        blob = info.metadata.get(METADATA_KEY)
        return (parse_manifest(blob) if blob else None), None, dict(info.metadata)
    if fmt == "onnx":
        info = inspect_onnx(content, path.name)
        check_external_data(info, path)
        blob = info.metadata.get(METADATA_KEY)
        return (parse_manifest(blob) if blob else None), info, dict(info.metadata)
    return None, None, {}  # .ort flatbuffers: the sidecar carries the manifest


def _sidecar(path: Path):
    for candidate in (path.with_name(path.name + ".manifest.json"), path.with_name(SIDECAR_NAME)):
        if candidate.is_file():
            manifest = parse_manifest(candidate.read_bytes())
            if manifest.file in (None, path.name) or candidate.name != SIDECAR_NAME:
                return manifest
    return None


def _merge(embedded, sidecar):
    if embedded is None or sidecar is None:
        return embedded if sidecar is None else sidecar
    return embedded.with_file_facts(
        file=sidecar.file, sha256=sidecar.sha256, size_bytes=sidecar.size_bytes, parity=sidecar.parity
    )


def _open_backend(fmt, content, path, manifest: Manifest | None, threads, backend, onnx_info, signature):
    missing: list[MissingDependencyError] = []
    for name, factory in backends.resolve(fmt, backend):
        try:
            opener = factory()
            if fmt == "tflite":
                engine = opener(content, threads=threads, name=path.name, signature=signature)
            else:
                # External data must be resolved next to the file; otherwise use the
                # bytes already verified, so the file cannot change in between.
                source = path if onnx_info is None or onnx_info.external_locations else content
                outputs = manifest.outputs if manifest is not None else None
                engine = opener(source, threads=threads, name=path.name, outputs=outputs, signature=signature)
        except MissingDependencyError as exc:
            missing.append(exc)
            continue
        return engine
    raise missing[0]


def _check_io(engine, manifest: Manifest, path: Path) -> None:
    expected = manifest.input_names
    if manifest.format == "onnx" and list(engine.input_names) != expected:
        raise ModelLoadError(f"{path.name}: model inputs {engine.input_names} do not match its manifest {expected}")
    if manifest.format == "tflite":
        if len(engine.inputs) != 1:
            raise ModelLoadError(f"{path.name}: expected one input tensor, found {len(engine.inputs)}")
        width = manifest.preprocessing.n_outputs if manifest.preprocessing else len(manifest.schema)
        if engine.input_width != width:
            raise ModelLoadError(f"{path.name}: model input width {engine.input_width} does not match its manifest ({width})")
