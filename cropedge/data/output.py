"""Writing a folder of region files (``data import``, ``data synth``) so that nothing is lost.

* A file that is there already is replaced only when cropedge wrote it (a cropedge
  ``.npz`` carries its own set of arrays and fixed zip dates); never the command's input.
* While the files are written, ``OUT/INCOMPLETE`` says so; the readers refuse a folder
  holding it, so a killed command never passes for a finished one. Running the same
  command again removes the temporary files a killed run left and finishes the folder.

Each file is written atomically (``Dataset.save_npz``); other files in the folder are left
alone, so several imports may share one folder.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from cropedge.atomic import check_writable, exclusive, write_text
from cropedge.data.dataset import NPZ_ARRAYS, NPZ_DATE, Dataset
from cropedge.errors import CropEdgeError

INCOMPLETE = "INCOMPLETE"


def write_region_files(
    out_dir: Path, parts: Mapping[Path, Callable[[], Dataset]], inputs: Sequence[Path] = (), command: str = ""
) -> list[Path]:
    """Write ``parts`` (target -> a function making its Dataset) into ``out_dir``; return the targets.

    Args:
        out_dir: The folder (made if missing).
        parts: Each target file (in ``out_dir``) and what makes its data, called in turn so
            that only one part is in memory at a time.
        inputs: Files the command reads: never overwritten.
        command: The command, for the ``INCOMPLETE`` note (``"cropedge data import x.csv"``).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise CropEdgeError(f"--out {out_dir} is a file; give a folder to write the .npz files into")
    check_overwrite(list(parts), inputs)
    check_writable(out_dir)
    with exclusive(out_dir, "cropedge data import"):  # two imports into one folder would mix their files
        out_dir.mkdir(parents=True, exist_ok=True)
        for target in parts:
            remove_leftovers(target)
        marker = out_dir / INCOMPLETE
        write_text(marker, _note(command, list(parts)))
        for target, make in parts.items():
            make().save_npz(target)
        marker.unlink()
    return list(parts)


def check_overwrite(targets: Sequence[Path], inputs: Sequence[Path] = ()) -> None:
    """Refuse to replace an input, or a file cropedge did not write."""
    sources = [p.resolve() for p in inputs if p.exists()]
    for target in targets:
        if not target.exists():
            continue
        if any(target.resolve() == s or _same(target, s) for s in sources):
            raise CropEdgeError(f"{target} is the input: writing there would replace it; choose another --out folder")
        if not made_by_cropedge(target):
            raise CropEdgeError(
                f"{target} exists and was not written by cropedge; move it away or choose another --out folder"
            )


def _same(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def made_by_cropedge(path: Path) -> bool:
    """Whether ``path`` is an ``.npz`` that ``Dataset.save_npz`` wrote (its arrays and fixed dates)."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
    names = {i.filename for i in infos}
    return names == {f"{a}.npy" for a in NPZ_ARRAYS} and all(i.date_time == NPZ_DATE for i in infos)


def remove_leftovers(target: Path) -> None:
    """Remove the temporary files a killed write of ``target`` left beside it (``.NAME.*.tmp*``)."""
    if target.parent.is_dir():
        for leftover in target.parent.glob(f".{target.name}.*.tmp*"):
            if leftover.is_file():
                leftover.unlink(missing_ok=True)


def check_complete(folder: Path) -> None:
    """Refuse a folder whose writing did not finish (it holds ``INCOMPLETE``)."""
    marker = folder / INCOMPLETE
    if marker.is_file():
        raise CropEdgeError(
            f"{folder}: the command that wrote this folder did not finish ({marker} says which); "
            "run it again to complete the folder"
        )


def _note(command: str, targets: list[Path]) -> str:
    return (
        f"{command or 'cropedge'} was writing this folder and did not finish.\n"
        "Run the same command again: it completes the folder and removes this file.\n"
        "Files it writes:\n" + "".join(f"  {t.name}\n" for t in targets)
    )
