"""Pixel time series in, one ``Dataset`` on the 73-step year grid out.

Readers, one module per source: ``cropglobe`` (.npz), ``hdf5``, ``csv_table`` and
``worldcereal`` (Parquet); ``load_dataset`` picks one by suffix. Every reader ends in
``build.to_year_dataset``: no-data to NaN, dates onto the year grid, gaps filled.
No TensorFlow here (the device path imports this package); h5py and pyarrow are
imported only when their files are read.
"""

from cropedge.data.convert import import_file
from cropedge.data.dataset import Dataset, concat
from cropedge.data.grid import CROPGLOBE_CLASSES, S2_BANDS, STEP_DAYS, YEAR_DOY, YEAR_STEPS, Window
from cropedge.data.info import format_summary, summarize
from cropedge.data.load import FORMATS, group_regions, load_dataset, load_regions, parse_groups
from cropedge.data.normalize import BandStats

__all__ = [
    "CROPGLOBE_CLASSES",
    "FORMATS",
    "S2_BANDS",
    "STEP_DAYS",
    "YEAR_DOY",
    "YEAR_STEPS",
    "BandStats",
    "Dataset",
    "Window",
    "concat",
    "format_summary",
    "group_regions",
    "import_file",
    "load_dataset",
    "load_regions",
    "parse_groups",
    "summarize",
]
