"""Fonts for the synthetic plates, rasterised once into glyph atlases: rendering a plate costs no FreeType.

Each font is rendered once per process (about 20 ms) into one greyscale mask per character at a reference cap
height; strings are then built by concatenating those masks and resizing once, which keeps a plate near
the 2 ms budget. Fonts come from Debian packages listed in ``scripts/fonts-debian.txt``; missing files are
skipped, and at least one font of each role must be present.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    # ../shared/fonts beside the project: plate lettering that no Debian package carries (GL-Nummernschild).
    Path(__file__).resolve().parents[4] / "shared" / "fonts",
)
# Lettering that real plates use, by region: US states' Highway Gothic (fonts-roadgeek, series B to E) and the
# FE-Schrift of German and Mercosur plates (GL-Nummernschild, ../shared/fonts). A share of plates is drawn in
# these so that the reader learns the real faces, not only faces that resemble them.
REGION_FONTS: dict[str, tuple[str, ...]] = {
    "us": ("RG2014B.ttf", "RG2014C.ttf", "RG2014D.ttf", "RG2014E.ttf"),
    "eu": ("GL-Nummernschild-Mtl.ttf", "GL-Nummernschild-Eng.ttf", "RG2014D.ttf"),
    "mercosur": ("GL-Nummernschild-Mtl.ttf", "GL-Nummernschild-Eng.ttf"),
}

# Roles: "plate" faces for the characters that are read (condensed grotesques, DIN, routed gothics, mono);
# "deco" for state names and slogans (serifs, scripts, italics); both draw from many families so that the
# reader does not learn one typeface.
PLATE_FONTS = (
    "OSP-DIN.ttf",
    "routed-gothic.ttf",
    "routed-gothic-narrow.ttf",
    "routed-gothic-wide.ttf",
    "routed-gothic-half-italic.ttf",
    "BebasNeue-Regular.otf",
    "BebasNeue-Bold.otf",
    "BebasNeue-Book.otf",
    "RobotoCondensed-Regular.ttf",
    "RobotoCondensed-Medium.ttf",
    "RobotoCondensed-Bold.ttf",
    "Roboto-Medium.ttf",
    "NimbusSansNarrow-Regular.otf",
    "NimbusSansNarrow-Bold.otf",
    "texgyreheroscn-regular.otf",
    "texgyreheroscn-bold.otf",
    "DejaVuSansCondensed.ttf",
    "DejaVuSansCondensed-Bold.ttf",
    "OpenSans-CondBold.ttf",
    "OpenSans-Semibold.ttf",
    "YanoneKaffeesatz-Regular.otf",
    "YanoneKaffeesatz-Bold.otf",
    "Dosis-Medium.otf",
    "Dosis-Bold.otf",
    "Cabin-Medium.otf",
    "ClearSans-Medium.ttf",
    "ClearSans-Bold.ttf",
    "Play-Regular.ttf",
    "Play-Bold.ttf",
    "Jura-Medium.otf",
    "Jura-Bold.otf",
    "B612-Regular.otf",
    "B612Mono-Bold.otf",
    "LeagueSpartan-Medium.otf",
    "LeagueSpartan-Bold.otf",
    "URWGothic-Book.otf",
    "URWGothic-Demi.otf",
    "Karla-Medium.otf",
    "Lato-Bold.ttf",
    "Lato-Medium.ttf",
    "Mplus1-Medium.otf",
    "Mplus2-Medium.otf",
    "Cantarell-Regular.otf",
    "Andika-Regular.ttf",
    "FreeSans.ttf",
    "FreeSansBold.ttf",
    "LiberationSans-Regular.ttf",
    "LiberationSans-Bold.ttf",
    "DejaVuSansMono-Bold.ttf",
    "LiberationMono-Bold.ttf",
    "NimbusMonoPS-Bold.otf",
    "texgyreadventor-regular.otf",
)
DECO_FONTS = (
    "NimbusRoman-Bold.otf",
    "NimbusRoman-BoldItalic.otf",
    "NimbusRoman-Regular.otf",
    "texgyretermes-bold.otf",
    "texgyretermes-italic.otf",
    "P052-Bold.otf",
    "P052-Italic.otf",
    "C059-Bold.otf",
    "C059-Italic.otf",
    "URWBookman-Demi.otf",
    "URWBookman-LightItalic.otf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerifCondensed-BoldItalic.ttf",
    "lobster.otf",
    "Z003-MediumItalic.otf",
    "texgyrechorus-mediumitalic.otf",
    "LiberationSans-BoldItalic.ttf",
    "FreeSansBoldOblique.ttf",
    "Roboto-BlackItalic.ttf",
    "RobotoCondensed-BoldItalic.ttf",
    "Lato-BlackItalic.ttf",
    "Cabin-BoldItalic.otf",
    "OpenSans-ExtraBold.ttf",
    "LeagueSpartan-Black.otf",
    "BebasNeue-Regular.otf",
    "routed-gothic-italic.ttf",
    "texgyreheros-bold.otf",
    "Karla-ExtraBoldItalic.otf",
)

CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-&'!,"
REF_CAP = 48  # reference cap height in pixels of the atlas


@dataclass(frozen=True)
class Atlas:
    """One font rasterised: per character an ink mask (rows ``0..height``, cap top at ``cap_top``)."""

    name: str
    glyphs: dict[str, np.ndarray]
    height: int  # rows of every mask: from ascender to descender
    cap_top: int  # first row of a capital letter
    baseline: int  # row below the last row of a capital letter

    def string_mask(self, text: str, gap: float = 0.12, caps_only: bool = True, footed_one: bool = False) -> np.ndarray:
        """Mask of `text` at reference size; `gap` is the space between glyphs as a fraction of cap height.

        With `caps_only` the mask is cropped to the cap height (for the characters that are read), else it
        keeps ascenders and descenders. With `footed_one` every "1" gets a base bar, as on many plate faces.
        """
        gap_px = max(0, round(gap * REF_CAP))
        space_px = round(0.45 * REF_CAP)
        parts: list[np.ndarray] = []
        for ch in text:
            if ch == " ":
                parts.append(np.zeros((self.height, space_px), np.uint8))
                continue
            glyph = self.glyphs.get(ch)
            if glyph is None:
                continue
            if footed_one and ch == "1":
                glyph = self._footed(glyph)
            parts.append(glyph)
            parts.append(np.zeros((self.height, gap_px), np.uint8))
        if not parts:
            return np.zeros((REF_CAP, 1), np.uint8)
        mask = np.hstack(parts[:-1] if len(parts) > 1 else parts)
        if caps_only:
            mask = mask[self.cap_top : self.baseline]
            if mask.shape[0] != REF_CAP:  # rounding in the font's metrics
                mask = cv2.resize(mask, (mask.shape[1], REF_CAP), interpolation=cv2.INTER_LINEAR)
        return mask

    def _footed(self, glyph: np.ndarray) -> np.ndarray:
        """A "1" with a base bar about as thick as its stem and twice as wide, unless it has one already."""
        stem = int((glyph[(self.cap_top + self.baseline) // 2] > 128).sum())
        stem = max(2, stem)
        if glyph.shape[1] > 2.2 * stem:  # already footed or flagged wide
            return glyph
        pad = stem
        out = np.pad(glyph, ((0, 0), (pad, pad)))
        top = max(self.cap_top, self.baseline - round(stem * 0.8))
        out[top : self.baseline, :] = 255
        return out


def _find(name: str) -> Path | None:
    for root in FONT_DIRS:
        if not root.is_dir():
            continue
        hits = sorted(root.rglob(name))
        if hits:
            return hits[0]
    return None


@lru_cache(maxsize=256)
def load_atlas(name: str) -> Atlas | None:
    """Rasterise font file `name` (searched under the system font dirs); None when it is not installed."""
    path = _find(name)
    if path is None:
        return None
    font = ImageFont.truetype(str(path), size=64)
    # Scale the point size so that a capital H is REF_CAP pixels high.
    left, top, right, bottom = font.getbbox("H")
    size = round(64 * REF_CAP / max(1, bottom - top))
    font = ImageFont.truetype(str(path), size=size)
    ascent, descent = font.getmetrics()
    height = ascent + descent
    _, h_top, _, h_bottom = font.getbbox("H")
    glyphs: dict[str, np.ndarray] = {}
    for ch in CHARSET:
        left, _, right, _ = font.getbbox(ch)
        width = max(1, right - min(0, left) + 4)
        canvas = Image.new("L", (width + 8, height))
        ImageDraw.Draw(canvas).text((4 - min(0, left), 0), ch, font=font, fill=255)
        arr = np.asarray(canvas)
        cols = np.flatnonzero(arr.max(axis=0) > 40)
        if cols.size == 0:
            continue
        glyphs[ch] = np.ascontiguousarray(arr[:, cols[0] : cols[-1] + 1])
    return Atlas(name=path.name, glyphs=glyphs, height=height, cap_top=int(h_top), baseline=int(h_bottom))


_SQUARED: dict[str, Atlas] = {}


def squared_o(atlas: Atlas) -> Atlas:
    """`atlas` with O and 0 drawn as a rounded rectangle of D's size and stroke, both sides straight.

    Brazil's grey plates letter O and 0 so (their "Mandatory" face), and none of the installed faces does: the reader
    took Bahia's O for a D. The letter is drawn rather than taken from a font of uncertain licence.
    """
    if atlas.name in _SQUARED:
        return _SQUARED[atlas.name]
    d = atlas.glyphs.get("D")
    i = atlas.glyphs.get("I")
    if d is None or i is None:
        return atlas
    middle = (atlas.cap_top + atlas.baseline) // 2
    stroke = max(2, int((i[middle] > 128).sum()))
    h, w = atlas.baseline - atlas.cap_top, d.shape[1]
    ring = np.zeros((h, w), np.uint8)
    radius = max(2, min(w, h) // 4)
    _rounded(ring, 0, 0, w - 1, h - 1, radius, 255)
    _rounded(ring, stroke, stroke, w - 1 - stroke, h - 1 - stroke, max(1, radius - stroke), 0)
    glyph = np.zeros((atlas.height, w), np.uint8)
    glyph[atlas.cap_top : atlas.baseline] = ring
    squared = Atlas(atlas.name + "+squared-o", {**atlas.glyphs, "O": glyph, "0": glyph}, atlas.height,
                    atlas.cap_top, atlas.baseline)  # fmt: skip
    _SQUARED[atlas.name] = squared
    return squared


def _rounded(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, r: int, value: int) -> None:
    """Fill a rectangle with rounded corners of radius `r`."""
    if x1 <= x0 or y1 <= y0:
        return
    r = min(r, (x1 - x0) // 2, (y1 - y0) // 2)
    cv2.rectangle(img, (x0 + r, y0), (x1 - r, y1), value, -1)
    cv2.rectangle(img, (x0, y0 + r), (x1, y1 - r), value, -1)
    for cx, cy in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
        cv2.circle(img, (cx, cy), r, value, -1)


@lru_cache(maxsize=16)
def available(role: str) -> tuple[Atlas, ...]:
    """All installed atlases of a role ("plate", "deco" or "region:<style>"); raises when none is installed.

    A region with no font of its own, or none installed, falls back to the plate faces.
    """
    if role.startswith("region:"):
        region = tuple(a for a in (load_atlas(n) for n in REGION_FONTS.get(role[7:], ())) if a is not None)
        return region or available("plate")
    names = PLATE_FONTS if role == "plate" else DECO_FONTS
    atlases = tuple(a for a in (load_atlas(n) for n in names) if a is not None)
    if not atlases:
        raise RuntimeError(f"no {role} font installed: apt-get install $(cat scripts/fonts-debian.txt)")
    return atlases


def fit_mask(mask: np.ndarray, height: int, width: int | None = None) -> np.ndarray:
    """Resize a reference-size mask to `height` rows (and `width` columns, else keeping the aspect)."""
    h, w = mask.shape
    if width is None:
        width = max(1, round(w * height / max(1, h)))
    interp = cv2.INTER_AREA if height < h else cv2.INTER_LINEAR
    return cv2.resize(mask, (max(1, width), max(1, height)), interpolation=interp)


def installed_digest() -> dict[str, object]:
    """Which of the generator's fonts are installed, and a sha256 prefix of their files: a different font set (or
    a font package's new release) changes every synthetic plate, and so the trained weights."""
    h = hashlib.sha256()
    found = 0
    for name in dict.fromkeys(PLATE_FONTS + DECO_FONTS + sum(REGION_FONTS.values(), ())):
        path = _find(name)
        if path is None:
            continue
        found += 1
        h.update(name.encode() + b"\0" + path.read_bytes())
    total = len(set(PLATE_FONTS + DECO_FONTS + sum(REGION_FONTS.values(), ())))
    return {"installed": found, "of": total, "sha256": h.hexdigest()[:16]}
