"""Phase 3 of a batch extraction: the chunk files assembled into DIR's outputs and manifest.

:class:`Assembler` copies each finished chunk into ``features.npy`` as soon as the chunks
before it are done, and :meth:`Assembler.finish` writes the header, the other files and
returns the manifest. See :mod:`pipelines.batch` for the job as a whole.
"""

import hashlib
import json
import os
import shutil
from io import BytesIO
from pathlib import Path

import numpy as np

from ._runtime import jsonable, library_versions, write_atomic

FORMAT = "visionfeatures-batch/1"
CHUNKS = "chunks"


def chunk_path(chunk_dir, index):
    """The file of chunk ``index`` in ``chunk_dir``."""
    return Path(chunk_dir) / f"chunk-{index:06d}.npz"


def n_features_of(extractor):
    """The number of features of a fitted extractor union."""
    return sum(step.n_features_out_ for _, step in extractor.transformer_list)


def _npy_header(shape):
    """The bytes numpy writes before the data of a C-ordered little-endian float32 array."""
    buffer = BytesIO()
    header = {"descr": "<f4", "fortran_order": False, "shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


class Assembler:
    """Copies finished chunks, in order, into ``.features.npy.tmp`` at their final rows.

    Chunk ``k`` is copied as soon as chunks ``0 .. k`` are all done, so most of the copying
    overlaps the extraction. The rows go through a memory map of their own window only (the
    file is grown first), so memory does not grow with the collection. The header is written
    last, once the number of rows is known, into space reserved for the largest possible shape
    (numpy pads headers so that the shape can grow in place, so the real header nearly always
    fits exactly; when it does not, the rows are copied once more behind it). On a restart the
    file is rebuilt from the chunk files, which stay until the manifest is written.
    """

    def __init__(self, out, plan, n_chunks, n_features):
        self.out, self.plan, self.n_chunks, self.n_features = out, plan, n_chunks, n_features
        self.chunk_dir = out / CHUNKS
        self.path = out / ".features.npy.tmp"
        self.reserved = len(_npy_header((len(plan["files"]), n_features)))
        with open(self.path, "wb") as f:
            f.write(b"\0" * self.reserved)
        self.next, self.n_rows = 0, 0
        self.kept, self.failures, self.seconds, self.cpu_seconds = [], [], 0.0, 0.0
        self.digest = hashlib.sha256()

    def advance(self, done):
        """Copy every chunk that is done and follows the ones already copied."""
        chunk_size = self.plan["arguments"]["chunk_size"]
        row_bytes = self.n_features * 4
        while self.next < self.n_chunks and self.next in done:
            k = self.next
            with np.load(chunk_path(self.chunk_dir, k)) as chunk:
                block = np.ascontiguousarray(chunk["features"], dtype="<f4")
                self.kept.append(chunk["kept"] + k * chunk_size)
                self.failures.extend(json.loads(str(chunk["failures"])))
                self.seconds += float(chunk["seconds"])
                self.cpu_seconds += float(chunk["cpu_seconds"])
            if len(block):
                start = self.reserved + self.n_rows * row_bytes
                os.truncate(self.path, start + block.nbytes)
                window = np.memmap(
                    self.path, dtype="<f4", mode="r+", offset=start, shape=block.shape
                )
                window[:] = block
                del window  # unmapped: the rows stay in the page cache, safe from a kill
                self.digest.update(memoryview(block).cast("B"))
            self.n_rows += len(block)
            self.next += 1

    def finish(self, extractor, on_event=None):
        """Write the header, move features.npy into place, write the other files.

        ``on_event("assembly", 0)`` is called (when given) once the file is complete, just
        before it is renamed into place.
        """
        if self.next != self.n_chunks:
            raise RuntimeError(f"chunk {self.next} was not extracted")  # pragma: no cover
        header = _npy_header((self.n_rows, self.n_features))
        if len(header) == self.reserved:
            with open(self.path, "r+b") as f:
                f.write(header)
        else:  # the rare shape whose header is shorter: move the rows once
            moved = self.path.with_name(".features.npy.moved.tmp")
            with open(self.path, "rb") as source, open(moved, "wb") as target:
                target.write(header)
                source.seek(self.reserved)
                shutil.copyfileobj(source, target, 1 << 22)
            os.replace(moved, self.path)
        if on_event is not None:
            on_event("assembly", 0)
        os.replace(self.path, self.out / "features.npy")

        plan, out = self.plan, self.out
        rows = np.concatenate(self.kept) if self.kept else np.empty(0, dtype=np.int64)
        if plan["labels"] is not None:
            labels = np.asarray(plan["labels"], dtype=np.int64)[rows]
            write_atomic(out / "labels.npy", _npy_bytes(labels))
            write_atomic(out / "class_names.txt", _lines(plan["class_names"]))
        write_atomic(out / "paths.txt", _lines(plan["files"][i] for i in rows))
        return _manifest(plan, extractor, rows, self)


def _manifest(plan, extractor, rows, assembler):
    failures = [{"path": p, "reason": r} for p, r in plan["stray"] + assembler.failures]
    blocks, start = [], 0
    for name, step in extractor.transformer_list:
        stop = start + step.n_features_out_
        blocks.append(
            {
                "name": name,
                "class": f"{type(step).__module__}.{type(step).__qualname__}",
                "parameters": jsonable(step.get_params(deep=False)),
                "columns": [start, stop],
            }
        )
        start = stop
    return {
        "format": FORMAT,
        "parameters": plan["arguments"],
        "n_files": len(plan["files"]) + len(plan["stray"]),
        "n_images": int(len(rows)),
        "n_failures": len(failures),
        "n_features": assembler.n_features,
        "image_shape": plan["image_shape"],
        "class_names": plan["class_names"],
        "features": blocks,
        "feature_names": extractor.get_feature_names_out().tolist(),
        "failures": failures,
        "versions": library_versions(),
        "timings": {
            "chunk_seconds_sum": assembler.seconds,
            "chunk_cpu_seconds_sum": assembler.cpu_seconds,
        },
        "rows_sha256": assembler.digest.hexdigest(),
    }


def _npy_bytes(array):
    buffer = BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _lines(items):
    return "".join(f"{item}\n" for item in items).encode()
