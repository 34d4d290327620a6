"""HDF5 files holding the CropGlobe arrays (``fea``, ``lbl`` and the optional extra keys).

Dataset format:
    * one ``fea`` array anywhere in the file (``/fea`` or ``/data/fea``): its labels and
      the extra keys are found by name anywhere too;
    * several groups each holding a ``fea`` (``/field_a/fea``, ``/field_b/fea``): every
      group is read, as a region named after the group (unless it has a ``region`` array),
      with the arrays beside its ``fea``; ``classes``, ``bands`` and ``doy`` may also sit in
      a parent group and are shared;
    * ``classes``, ``bands`` and ``doy`` may also be attributes of ``fea``, of its group or of
      a parent group.

Sizes are checked before anything is read: a dataset that declares more than memory
takes, or declares samples but stores no data, is refused. h5py is imported only when
such a file is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cropedge.data.build import decode_text, describe_error, import_optional
from cropedge.data.cropglobe import FEATURE_KEYS, LABEL_KEYS, from_arrays
from cropedge.data.dataset import Dataset, join
from cropedge.data.memory import READ_COPIES, check_fits, format_bytes
from cropedge.errors import CropEdgeError

SHARED_KEYS = ("classes", "bands", "doy")  # may come from a parent group or an attribute


def read_hdf5(path: str | Path, *, classes: Sequence[str] | None = None, nodata: Sequence[float] = ()) -> Dataset:
    """Read CropGlobe arrays from an HDF5 file onto the year grid, gaps filled (see ``read_npz``).

    A file with a ``fea`` array in several groups is read whole, one region per group.
    """
    path = Path(path)
    h5py = import_optional("h5py", "HDF5 files")
    try:
        with h5py.File(path, "r") as fh:
            parts = _read_parts(fh, h5py, path)
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:  # h5py: RuntimeError for a damaged tree
        reason = describe_error(exc)
        raise CropEdgeError(f"{path}: not a readable HDF5 file ({reason}); check the file or write it anew") from exc
    if len(parts) == 1:
        return from_arrays(parts[0][1], path, classes=classes, nodata=nodata)
    datasets = [
        from_arrays(arrays, path, classes=classes, nodata=nodata, region=group, what=f"{path}:/{group}")
        for group, arrays in parts
    ]
    ds = join(datasets)
    ds.source = str(path)
    return ds


def _read_parts(fh: Any, h5py: Any, path: Path) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(group name, arrays) for each group holding a feature array, every size checked first."""
    found: dict[str, dict[str, Any]] = {}  # group path -> {key: h5py.Dataset}

    def collect(name: str, item: object) -> None:
        if isinstance(item, h5py.Dataset):
            group, _, key = name.rpartition("/")
            found.setdefault(group, {})[key] = item

    fh.visititems(collect)
    feature_groups = [g for g, items in found.items() if any(k in items for k in FEATURE_KEYS)]
    if not feature_groups:
        names = ", ".join(f"/{g}/{k}".replace("//", "/") for g, items in found.items() for k in items)
        raise CropEdgeError(
            f"{path}: no 'fea' array (it has: {names or 'nothing'}); "
            "CropGlobe files hold fea [samples, bands, time] and lbl [samples]"
        )
    if len(feature_groups) == 1:
        members = _anywhere(found, path)
        plan = [(feature_groups[0], members)]
    else:
        _no_stray_labels(found, feature_groups, path)
        plan = [(g, _with_shared(found, g)) for g in sorted(feature_groups)]
    _check_sizes([m for _, members in plan for m in members.values()], path)
    parts = []
    for group, members in plan:
        arrays = {key: _read(item, h5py, path) for key, item in members.items()}
        for key in SHARED_KEYS:
            if key not in arrays:
                value = _attribute(fh, group, key, path)
                if value is not None:
                    arrays[key] = value
        parts.append((group or path.stem, arrays))
    return parts


def _anywhere(found: dict[str, dict[str, Any]], path: Path) -> dict[str, Any]:
    """One feature array: every key by name wherever it is; the same key in two places is ambiguous."""
    members: dict[str, Any] = {}
    for _, items in sorted(found.items()):
        for key, item in items.items():
            if key in members:
                raise CropEdgeError(
                    f"{path}: two arrays named '{key}' ({members[key].name}, {item.name}); keep one, or put each "
                    "with its own fea in a group of its own"
                )
            members[key] = item
    return members


def _no_stray_labels(found: dict[str, dict[str, Any]], feature_groups: list[str], path: Path) -> None:
    """With several feature groups, labels outside them belong to none: refuse rather than guess."""
    for group, items in found.items():
        stray = [k for k in items if k in LABEL_KEYS] if group not in feature_groups else []
        if stray:
            raise CropEdgeError(
                f"{path}: labels /{group}/{stray[0]} sit in no group with a fea array (those are "
                f"{', '.join('/' + g for g in sorted(feature_groups))}); put each lbl beside its fea"
            )


def _with_shared(found: dict[str, dict[str, Any]], group: str) -> dict[str, Any]:
    """A group's own arrays plus ``SHARED_KEYS`` from its nearest parent that has them."""
    members = dict(found[group])
    parent = group
    while parent:
        parent = parent.rpartition("/")[0]
        for key in SHARED_KEYS:
            if key not in members and key in found.get(parent, {}):
                members[key] = found[parent][key]
    return members


def _check_sizes(items: list[Any], path: Path) -> None:
    """Refuse datasets that declare more than memory takes, or samples without stored data."""
    total = 0
    for item in items:
        nbytes = int(np.prod(item.shape, dtype=np.float64)) * max(item.dtype.itemsize, 1)
        if nbytes and item.id.get_storage_size() == 0:
            raise CropEdgeError(
                f"{path}: {item.name} declares {' x '.join(map(str, item.shape))} {item.dtype} "
                f"({format_bytes(nbytes)}) but stores no data; the file is damaged or was never written"
            )
        total += nbytes
        if item.name.rsplit("/", 1)[-1] in FEATURE_KEYS:
            total += READ_COPIES * 4 * nbytes // max(item.dtype.itemsize, 1)
    check_fits(total, str(path), "read a smaller file (split it by region or sample)")


def _read(item: Any, h5py: Any, path: Path) -> np.ndarray:
    """A dataset as numpy; variable-length strings as bytes (decoded, strictly, by the reader)."""
    if item.dtype.kind == "O" and h5py.check_string_dtype(item.dtype) is None:
        raise CropEdgeError(f"{path}: {item.name} holds references or sequences, not numbers or text")
    return np.asarray(item[()])


def _attribute(fh: Any, group: str, key: str, path: Path) -> np.ndarray | None:
    """``key`` as an attribute of the group's feature array, of the group or of a parent group (None: none has it)."""
    node = fh[group] if group else fh
    holders = [node[k] for k in FEATURE_KEYS if k in node] + [node]
    while group:
        group = group.rpartition("/")[0]
        holders.append(fh[group] if group else fh)
    for holder in holders:
        if key in holder.attrs:
            try:
                value = holder.attrs[key]
            except (UnicodeDecodeError, OSError, TypeError) as exc:
                raise CropEdgeError(f"{path}: attribute '{key}' of {holder.name} is not readable ({exc})") from None
            value = np.atleast_1d(np.asarray(value))
            if value.dtype.kind in "SUO":
                value = np.array(decode_text(value, f"{path}: attribute '{key}' of {holder.name}"))
            return value
    return None
