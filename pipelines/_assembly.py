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

FORMAT = "visionfeatures-batch/2"  # /2: paths.jsonl and class_names.jsonl (/1: .txt files)
CHUNKS = "chunks"
PATHS = "paths.jsonl"
CLASS_NAMES = "class_names.jsonl"
_OLD_TEXT_FILES = {PATHS: "paths.txt", CLASS_NAMES: "class_names.txt"}  # format /1


def read_paths(out):
    """The image path of each row of ``out/features.npy``, relative to the input folder.

    ``paths.jsonl`` holds one JSON string a line, so that every name the operating system
    allows comes back exactly: a newline in a name is ``\\n`` inside its string, and a name
    that is not UTF-8 keeps its bytes as surrogate escapes (``os.fsencode`` gives them back).
    Outputs of format ``visionfeatures-batch/1`` (``paths.txt``, a name a line) are read too.

    Examples
    --------
    >>> from pipelines.batch import read_paths
    >>> read_paths("photos-hog")[:2]  # doctest: +SKIP
    ['cat/001.jpg', 'cat/002.jpg']
    """
    return _read_lines(Path(out), PATHS)


def read_class_names(out):
    """The class names of ``out/labels.npy`` (``class_names.jsonl``, or an old ``.txt``).

    Examples
    --------
    >>> from pipelines.batch import read_class_names
    >>> read_class_names("photos-hog")  # doctest: +SKIP
    ['cat', 'dog']
    """
    return _read_lines(Path(out), CLASS_NAMES)


def _read_lines(out, name):
    path = out / name
    if path.exists():
        with open(path, encoding="ascii") as f:
            return [json.loads(line) for line in f]
    old = out / _OLD_TEXT_FILES[name]
    if old.exists():
        return old.read_text().splitlines()
    raise ValueError(f"{str(out)!r} holds no {name} (nor {_OLD_TEXT_FILES[name]}).")


def _json_lines(items):
    """One JSON string a line, ASCII only (names that are not UTF-8 become \\udcXX)."""
    return "".join(json.dumps(item) + "\n" for item in items).encode("ascii")


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
        self.reused = 0
        self.digest = None  # of the rows as read back from the file, once it is complete

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
                self.reused += int(chunk["reused"]) if "reused" in chunk else 0
            if len(block):
                start = self.reserved + self.n_rows * row_bytes
                os.truncate(self.path, start + block.nbytes)
                window = np.memmap(
                    self.path, dtype="<f4", mode="r+", offset=start, shape=block.shape
                )
                window[:] = block
                del window  # unmapped: the rows stay in the page cache, safe from a kill
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
        final = self.out / "features.npy"
        os.replace(self.path, final)
        # The manifest's hash is of the bytes the file holds, read back from it: never of
        # what this process meant to write.
        self.digest = rows_sha256(final, (self.n_rows, self.n_features))

        plan, out = self.plan, self.out
        rows = np.concatenate(self.kept) if self.kept else np.empty(0, dtype=np.int64)
        if plan["labels"] is not None:
            labels = np.asarray(plan["labels"], dtype=np.int64)[rows]
            write_atomic(out / "labels.npy", _npy_bytes(labels))
            write_atomic(out / CLASS_NAMES, _json_lines(plan["class_names"]))
        write_atomic(out / PATHS, _json_lines(plan["files"][i] for i in rows))
        return _manifest(plan, extractor, rows, self)


def rows_sha256(path, shape=None):
    """The SHA-256 of the rows of a float32 ``.npy`` file, read from the file in blocks.

    Raises ``ValueError`` when the file is not a float32 ``.npy`` file of ``shape``.

    Examples
    --------
    >>> from pipelines._assembly import rows_sha256
    >>> len(rows_sha256("photos-hog/features.npy"))  # doctest: +SKIP
    64
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            found, fortran, dtype = read_header(f)
        except ValueError as exc:
            raise ValueError(f"{str(path)!r} is not a .npy file: {exc}") from None
        if dtype != np.dtype("<f4") or fortran or (shape is not None and found != tuple(shape)):
            raise ValueError(
                f"{str(path)!r} holds a {dtype} array of shape {found}; expected float32 of "
                f"shape {tuple(shape) if shape is not None else '(n, n_features)'}."
            )
        expected = int(np.prod(found)) * 4
        n_read = 0
        while block := f.read(1 << 22):
            digest.update(block)
            n_read += len(block)
    if n_read != expected:
        raise ValueError(f"{str(path)!r} holds {n_read} bytes of rows; its header says {expected}.")
    return digest.hexdigest()


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
        "rows_sha256": assembler.digest,
        "paths_file": PATHS,
    }


def _npy_bytes(array):
    buffer = BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
