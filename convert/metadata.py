"""Embedding the manifest in the model file itself, so a file alone is self-describing.

TFLite: an extra buffer holding the manifest JSON, named by a ``Metadata`` entry
"edgekit" (the converter's own CONVERSION_METADATA entry is kept). ONNX: a
``metadata_props`` entry with the same key. The runtime reads both back without this
module (see ``edgekit.runtime.tflite_file`` / ``onnx_file``). Both files are sealed: the
manifest's digest placeholder is overwritten with the finished file's sha256
(``edgekit.runtime.seal``), so a lone copy verifies itself.
"""

from __future__ import annotations

import numpy as np

from edgekit.runtime import seal
from edgekit.runtime.manifest import METADATA_KEY, Manifest


def embed_tflite(content: bytes, manifest: Manifest) -> bytes:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    blob = schema.BufferT()
    blob.data = np.frombuffer(manifest.to_json(embedded=True).encode("utf-8"), dtype=np.uint8)
    model.buffers.append(blob)
    entry = schema.MetadataT()
    entry.name = METADATA_KEY
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name not in (METADATA_KEY, METADATA_KEY.encode())]
    model.metadata.append(entry)
    builder = flatbuffers.Builder(len(content) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return seal.seal(bytes(builder.Output()))


def embed_onnx(model, manifest: Manifest) -> bytes:
    """Set the manifest on an ``onnx.ModelProto`` (in place) and return its bytes."""
    kept = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = manifest.to_json(embedded=True)
    model.producer_name = "edgekit"
    return seal.seal(model.SerializeToString())
