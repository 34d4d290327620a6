"""A GDAL VRT mosaic over class maps: one virtual raster that reads them all, nothing copied.

Maps on the same CRS and pixel size go into one VRT (``mosaic.vrt``); maps in other CRSs
(neighbouring UTM zones) get a VRT each (``mosaic-EPSG_32632.vrt``), as a VRT has one CRS.
The XML is written here (rasterio has no BuildVRT) with the class maps' colour table,
nodata and band names, so a GIS shows the mosaic as it shows one map.
"""

from __future__ import annotations

import os
from pathlib import Path
from xml.sax.saxutils import escape

from cropedge.atomic import write_text
from cropedge.errors import CropEdgeError


def _info(path: Path) -> dict:
    import rasterio

    with rasterio.open(path) as src:
        return {"path": path, "crs": src.crs, "transform": src.transform, "width": src.width, "height": src.height,
                "count": src.count, "nodata": src.nodata, "colormap": src.colormap(1),
                "descriptions": src.descriptions, "block": src.block_shapes[0], "scales": src.scales}


def write_mosaics(maps: list[Path], out_dir: Path) -> list[Path]:
    """Write one VRT per CRS over ``maps`` into ``out_dir``; returns the VRT paths."""
    groups: dict[str, list[dict]] = {}
    for m in maps:
        info = _info(m)
        key = info["crs"].to_string() if info["crs"] else "none"
        groups.setdefault(key, []).append(info)
    written = []
    for key, infos in groups.items():
        name = "mosaic.vrt" if len(groups) == 1 else f"mosaic-{key.replace(':', '_').replace(' ', '_')}.vrt"
        path = out_dir / name
        write_text(path, vrt_xml(infos, path.parent))
        written.append(path)
    return written


def vrt_xml(infos: list[dict], where: Path) -> str:
    """The VRT document over maps of one CRS and pixel size (north-up)."""
    t0 = infos[0]["transform"]
    for i in infos:
        t = i["transform"]
        if t.b or t.d or abs(t.a - t0.a) > 1e-9 * abs(t0.a) or abs(t.e - t0.e) > 1e-9 * abs(t0.e):
            raise CropEdgeError(f"{i['path']}: its pixel size or rotation differs from {infos[0]['path']}'s; "
                                "a mosaic needs one pixel grid")
    left = min(i["transform"].c for i in infos)
    top = max(i["transform"].f for i in infos)
    right = max(i["transform"].c + i["width"] * t0.a for i in infos)
    bottom = min(i["transform"].f + i["height"] * t0.e for i in infos)
    width, height = round((right - left) / t0.a), round((bottom - top) / t0.e)
    count = min(i["count"] for i in infos)
    crs = infos[0]["crs"]
    lines = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">']
    if crs is not None:
        lines.append(f"  <SRS>{escape(crs.to_wkt())}</SRS>")
    lines.append(f"  <GeoTransform>{left!r}, {t0.a!r}, 0.0, {top!r}, 0.0, {t0.e!r}</GeoTransform>")
    for band in range(1, count + 1):
        first = infos[0]
        lines.append(f'  <VRTRasterBand dataType="Byte" band="{band}">')
        if first["nodata"] is not None:
            lines.append(f"    <NoDataValue>{first['nodata']:g}</NoDataValue>")
        if first["descriptions"][band - 1]:
            lines.append(f"    <Description>{escape(first['descriptions'][band - 1])}</Description>")
        if band == 1:
            lines.append("    <ColorInterp>Palette</ColorInterp>")
            lines.append("    <ColorTable>")
            for k in range(256):
                r, g, b, a = first["colormap"].get(k, (0, 0, 0, 0))
                lines.append(f'      <Entry c1="{r}" c2="{g}" c3="{b}" c4="{a}"/>')
            lines.append("    </ColorTable>")
        elif first["scales"][band - 1] != 1.0:
            lines.append(f"    <Scale>{first['scales'][band - 1]!r}</Scale>")
        for i in infos:
            col = round((i["transform"].c - left) / t0.a)
            row = round((i["transform"].f - top) / t0.e)
            rel = os.path.relpath(i["path"], where)
            by, bx = i["block"]
            lines += [
                "    <ComplexSource>",
                f'      <SourceFilename relativeToVRT="1">{escape(rel)}</SourceFilename>',
                f"      <SourceBand>{band}</SourceBand>",
                f'      <SourceProperties RasterXSize="{i["width"]}" RasterYSize="{i["height"]}" DataType="Byte" '
                f'BlockXSize="{bx}" BlockYSize="{by}"/>',
                f'      <SrcRect xOff="0" yOff="0" xSize="{i["width"]}" ySize="{i["height"]}"/>',
                f'      <DstRect xOff="{col}" yOff="{row}" xSize="{i["width"]}" ySize="{i["height"]}"/>',
                f"      <NODATA>{i['nodata']:g}</NODATA>" if i["nodata"] is not None else "",
                "    </ComplexSource>",
            ]
        lines.append("  </VRTRasterBand>")
    lines = [line for line in lines if line]
    lines.append("</VRTDataset>")
    return "\n".join(lines) + "\n"
