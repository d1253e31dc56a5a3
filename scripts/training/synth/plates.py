"""Synthetic licence plates: a seeded renderer of flat plates with their exact reading.

``render_plate(rng, style=None, text=None)`` draws one plate, cropped at its outer edge, in one of the styles
``us`` (state-like designs: state name, slogan, pictures and gradients, coloured characters, emblem
separators, stickers, small stacked characters and county names that are not part of the reading, vanity
plates), ``eu`` (blue band), ``mercosur`` (Brazil and Argentina since 2016), ``br-old`` and ``ar-old`` (black
with white characters), with frames, bolts, dirt, fading, glare and shadow. About 4% of plates have their main
characters in two rows (``two_line``); the reader is trained to refuse those rather than guess.

Everything is drawn from glyph atlases with numpy and OpenCV (no FreeType per plate), about 1 ms per plate.
The same ``rng`` state always gives the same plate.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from training.synth import fonts
from training.synth.styles import (
    BRIGHT_INKS,
    COUNTIES,
    DARK_BGS,
    DEALER_KINDS,
    DEALER_NAMES,
    INKS,
    LIGHT_BGS,
    MONTHS,
    SLOGANS,
    US_STATES,
    group_text,
    text_for,
)

STYLES = ("us", "eu", "mercosur", "br-old", "ar-old")
STYLE_WEIGHTS = (0.72, 0.07, 0.09, 0.04, 0.08)
ASPECT = {"us": 2.0, "eu": 4.7, "mercosur": 3.08, "br-old": 3.08, "ar-old": 2.28}
TWO_LINE_RATE = 0.04
# Share of plates in a dealer's frame (_dealer_frame).
DEALER_FRAME_RATE = 0.3
# Share of plates whose characters are drawn in their region's real lettering (fonts.REGION_FONTS).
REGION_FONT_RATE = 0.35

Colour = tuple[int, int, int]


@dataclass
class Plate:
    """One rendered plate and what the reader must output for it."""

    image: np.ndarray  # H x W x 3 uint8 BGR, the flat plate cropped at its outer edge (no background)
    text: str  # A-Z0-9 only: exactly what the reader must output (small stacked / county chars excluded)
    style: str  # "us", "eu", "mercosur", "br-old", "ar-old"
    two_line: bool  # main characters in two rows


def _colour(rng: np.random.Generator, palette: tuple[Colour, ...], jitter: int = 18) -> Colour:
    base = palette[int(rng.integers(len(palette)))]
    j = rng.integers(-jitter, jitter + 1, 3).tolist()
    return (
        min(255, max(0, base[0] + j[0])),
        min(255, max(0, base[1] + j[1])),
        min(255, max(0, base[2] + j[2])),
    )


def _paint(img: np.ndarray, mask: np.ndarray, x: int, y: int, colour: Colour, alpha: float = 1.0) -> None:
    """Blend `colour` into `img` through the uint8 `mask` placed with its top-left corner at (x, y)."""
    h, w = mask.shape
    H, W = img.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x0 >= x1 or y0 >= y1:
        return
    m = mask[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)[..., None] * (alpha / 255.0)
    roi = img[y0:y1, x0:x1]
    roi += (np.asarray(colour, np.float32) - roi) * m


def _shear(mask: np.ndarray, amount: float) -> np.ndarray:
    """Slant a mask to the right by `amount` (x shift per row), for italic lettering."""
    h, w = mask.shape
    extra = int(abs(amount) * h) + 1
    m = np.float32([[1, -amount, amount * h if amount > 0 else 0], [0, 1, 0]])
    return cv2.warpAffine(mask, m, (w + extra, h))


def _text_mask(
    rng: np.random.Generator,
    text: str,
    height: int,
    max_width: int,
    role: str = "deco",
    caps_only: bool = False,
) -> np.ndarray:
    atlas = fonts.available(role)[int(rng.integers(len(fonts.available(role))))]
    ref = atlas.string_mask(text, gap=float(rng.uniform(0.04, 0.14)), caps_only=caps_only)
    mask = fonts.fit_mask(ref, height)
    if mask.shape[1] > max_width:
        mask = fonts.fit_mask(ref, height, max_width)
    if rng.random() < 0.2:
        mask = _shear(mask, float(rng.uniform(0.1, 0.3)))
    return mask


def _background(rng: np.random.Generator, h: int, w: int, dark: bool) -> np.ndarray:
    """Plate ground: flat, gradient, smooth colour clouds or a simple landscape picture."""
    base = np.array(_colour(rng, DARK_BGS if dark else LIGHT_BGS), np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = base
    kind = rng.random()
    if kind < 0.3:
        other = np.array(_colour(rng, DARK_BGS if dark else LIGHT_BGS), np.float32)
        t = np.linspace(0, 1, h if rng.random() < 0.7 else w, dtype=np.float32)
        t = t[:, None, None] if t.size == h else t[None, :, None]
        img[:] = img * (1 - t) + other * t
    elif kind < 0.55:
        clouds = rng.uniform(-60, 60, (int(rng.integers(2, 5)), int(rng.integers(3, 8)), 3)).astype(np.float32)
        img = img + cv2.resize(clouds, (w, h), interpolation=cv2.INTER_CUBIC) * float(rng.uniform(0.3, 1.0))
    elif kind < 0.75 and not dark:
        # A landscape: sky gradient, a sun, a ridge of hills; pictures behind the characters are common.
        sky = np.array(_colour(rng, ((250, 210, 150), (240, 230, 200), (230, 200, 250), (200, 230, 250))))
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        img[:] = sky * (1 - t) + base * t
        if rng.random() < 0.5:
            c = (int(rng.integers(w)), int(rng.integers(h // 2)))
            cv2.circle(img, c, int(rng.integers(h // 8, h // 3)), _colour(rng, ((80, 200, 250), (60, 120, 240))), -1)
        xs = np.arange(w, dtype=np.float32)
        ridge = h * (rng.uniform(0.45, 0.8) + 0.12 * np.sin(xs / w * rng.uniform(3, 12) + rng.uniform(0, 6)))
        pts = np.concatenate([np.stack([xs, ridge], 1), [[w - 1, h - 1], [0, h - 1]]]).astype(np.int32)
        cv2.fillPoly(img, [pts], _colour(rng, ((60, 140, 60), (90, 110, 150), (140, 120, 90), (120, 160, 120))))
    if rng.random() < 0.3:
        # Faded stripes or waves, as on many state and Mercosur backgrounds.
        # sin(a + b) = sin a cos b + cos a sin b: two outer products instead of a sine per pixel.
        a = np.arange(w, dtype=np.float32)[None, :] * np.float32(rng.uniform(4, 30) / w)
        b = np.arange(h, dtype=np.float32)[:, None] * np.float32(rng.uniform(0, 12) / h)
        wave = np.sin(a) * np.cos(b) + np.cos(a) * np.sin(b)
        img += wave[..., None] * np.float32(rng.uniform(5, 25))
    return img


def _sticker_pair(height: int) -> np.ndarray:
    """Two round stickers one above the other between the groups (Czech and Slovak inspection stickers): to a
    reader that has not seen them they look like an 8, and they are not part of the reading."""
    r = max(2, height // 4 - 1)
    m = np.zeros((height, 2 * r + 3), np.uint8)
    cv2.circle(m, (r + 1, height // 4), r, 255, -1)
    cv2.circle(m, (r + 1, 3 * height // 4), r, 255, -1)
    return m


def _emblem(rng: np.random.Generator, size: int) -> np.ndarray:
    """Mask of a separator emblem: disc, star, diamond, heart-ish blob or a random state-like polygon."""
    m = np.zeros((size, size), np.uint8)
    c, r = size // 2, size // 2 - 1
    kind = int(rng.integers(5))
    if kind == 0:
        cv2.circle(m, (c, c), r, 255, -1)
    elif kind == 1:
        ang = np.linspace(-np.pi / 2, 1.5 * np.pi, 11)[:-1]
        rad = np.where(np.arange(10) % 2 == 0, r, r * 0.42)
        pts = np.stack([c + rad * np.cos(ang), c + rad * np.sin(ang)], 1).astype(np.int32)
        cv2.fillPoly(m, [pts], 255)
    elif kind == 2:
        cv2.fillPoly(m, [np.array([[c, 0], [size - 1, c], [c, size - 1], [0, c]], np.int32)], 255)
    elif kind == 3:
        cv2.circle(m, (c, c), r, 255, max(1, size // 8))
        for a in np.linspace(0, np.pi, 5)[:-1]:
            d = np.array([np.cos(a), np.sin(a)]) * r
            cv2.line(m, (int(c - d[0]), int(c - d[1])), (int(c + d[0]), int(c + d[1])), 255, max(1, size // 10))
    else:
        n = int(rng.integers(5, 9))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(0.5, 1.0, n) * r
        pts = np.stack([c + rad * np.cos(ang), c + rad * np.sin(ang)], 1).astype(np.int32)
        cv2.fillPoly(m, [pts], 255)
    return m


def _main_text(rng: np.random.Generator, grouped: str, cap_h: int, max_w: int, style: str) -> tuple[np.ndarray, list]:
    """Mask of the characters that are read, and the emblems (mask, x offset) that separate their groups."""
    role = f"region:{style}" if rng.random() < REGION_FONT_RATE else "plate"
    atlas = fonts.available(role)[int(rng.integers(len(fonts.available(role))))]
    if style == "br-old" and rng.random() < 0.7:
        atlas = fonts.squared_o(atlas)
    gap = float(rng.uniform(0.05, 0.25))
    footed_one = bool(rng.random() < 0.3)
    sep = "space"
    if " " in grouped:
        sep = str(rng.choice(["space", "dash", "dot", "emblem", "none"], p=[0.35, 0.2, 0.08, 0.22, 0.15]))
        if style in ("mercosur", "ar-old") and sep == "emblem":
            sep = "space"
    pieces: list[tuple[str, np.ndarray]] = []
    for i, group in enumerate(grouped.split(" ")):
        if i:
            if sep == "dash":
                dash = np.zeros((fonts.REF_CAP, int(fonts.REF_CAP * rng.uniform(0.5, 0.9))), np.uint8)
                t = int(fonts.REF_CAP * rng.uniform(0.08, 0.14))
                dash[fonts.REF_CAP // 2 - t : fonts.REF_CAP // 2 + t, 4:-4] = 255
                pieces.append(("ink", dash))
            elif sep == "dot":
                dot = np.zeros((fonts.REF_CAP, fonts.REF_CAP // 2), np.uint8)
                cv2.circle(dot, (fonts.REF_CAP // 4, fonts.REF_CAP // 2), fonts.REF_CAP // 9, 255, -1)
                pieces.append(("ink", dot))
            elif sep == "emblem" and style == "eu":
                pieces.append(("emblem", _sticker_pair(int(fonts.REF_CAP * rng.uniform(0.8, 1.05)))))
            elif sep == "emblem":
                pieces.append(("emblem", _emblem(rng, int(fonts.REF_CAP * rng.uniform(0.7, 1.1)))))
            elif sep == "space":
                pieces.append(("ink", np.zeros((fonts.REF_CAP, int(fonts.REF_CAP * rng.uniform(0.25, 0.6))), np.uint8)))
        pieces.append(("ink", atlas.string_mask(group, gap=gap, footed_one=footed_one)))
    h_ref = fonts.REF_CAP
    widths = [p.shape[1] + 6 for _, p in pieces]
    ink = np.zeros((h_ref, sum(widths)), np.uint8)
    emblems = []
    x = 0
    for (kind, p), w in zip(pieces, widths, strict=True):
        if kind == "ink":
            ink[:, x + 3 : x + 3 + p.shape[1]] = p
        else:
            emblems.append((p, x + 3))
        x += w
    # Stroke weight: plate faces run from light to very bold, more than the installed fonts do.
    weight = rng.random()
    if weight < 0.25:
        ink = cv2.dilate(ink, np.ones((int(rng.integers(2, 5)),) * 2, np.uint8))
    elif weight < 0.35:
        ink = cv2.erode(ink, np.ones((2, 2), np.uint8))
    # Upright or slanted strokes (a near-vertical 7, leaning digits).
    if rng.random() < 0.3:
        ink = _shear(ink, float(rng.uniform(-0.18, 0.18)))
    scale = cap_h / h_ref
    width = ink.shape[1] * scale * float(rng.uniform(0.85, 1.25))
    width = min(width, max_w)
    sx = width / ink.shape[1]
    out = fonts.fit_mask(ink, cap_h, round(width))
    placed = [
        (fonts.fit_mask(m, round(m.shape[0] * scale), max(1, round(m.shape[1] * sx))), round(x0 * sx))
        for m, x0 in emblems
    ]
    return out, placed


def _stickers(rng: np.random.Generator, img: np.ndarray, ink: Colour) -> None:
    """Registration stickers and small corner numbers, which are not part of the reading."""
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(0, 3))):
        sh, sw = int(h * rng.uniform(0.12, 0.22)), int(w * rng.uniform(0.07, 0.16))
        x = int(rng.choice([rng.integers(2, w // 6), rng.integers(w * 5 // 6 - sw, w - sw - 1)]))
        y = int(rng.integers(2, max(3, h // 5)))
        colour = _colour(rng, ((40, 200, 240), (200, 120, 40), (60, 60, 220), (240, 240, 240), (80, 170, 80)), 30)
        cv2.rectangle(img, (x, y), (x + sw, y + sh), colour, -1)
        label = str(rng.choice(MONTHS)) if rng.random() < 0.4 else f"{rng.integers(0, 100):02d}"
        m = _text_mask(rng, label, max(4, int(sh * 0.7)), sw - 2, role="plate", caps_only=True)
        _paint(img, m, x + (sw - m.shape[1]) // 2, y + (sh - m.shape[0]) // 2, (20, 20, 20))


def _stacked(rng: np.random.Generator, img: np.ndarray, x: int, y: int, cap_h: int, ink: Colour) -> int:
    """Two small characters stacked vertically (NH, VT, RI-style prefixes); returns the width used."""
    chars = "".join(rng.choice(list("ABCDEFGHJKLMNPRSTUVWXYZ0123456789"), 2))
    ch = max(4, int(cap_h * rng.uniform(0.36, 0.48)))
    widths = []
    for i, c in enumerate(chars):
        m = _text_mask(rng, c, ch, ch * 2, role="plate", caps_only=True)
        _paint(img, m, x, y + i * int(ch * 1.15), ink)
        widths.append(m.shape[1])
    return max(widths)


def _place_main(
    rng: np.random.Generator,
    img: np.ndarray,
    grouped: str,
    style: str,
    ink: Colour,
    two_line: bool,
    top: float,
    bottom: float,
) -> tuple[float, float]:
    """Draw the characters that are read between fractions `top` and `bottom` of the plate height.

    Returns where they ended up: the top of the first row and the bottom of the last, as fractions of the height.
    """
    h, w = img.shape[:2]
    band = (bottom - top) * h
    rows = [grouped]
    if two_line:
        parts = grouped.split(" ")
        if len(parts) < 2:
            mid = max(1, len(grouped) // 2)
            parts = [grouped[:mid], grouped[mid:]]
        rows = [parts[0], " ".join(parts[1:])]
    n = len(rows)
    cap_h = int(band / n * (rng.uniform(0.62, 0.85) if n == 2 else rng.uniform(0.72, 0.92)))
    emboss = rng.random() < 0.4
    outline = rng.random() < 0.08
    shadow_col = tuple(int(c * 0.45) for c in ink)
    emblem_col = _colour(rng, (*INKS, (40, 120, 230), (30, 170, 240), (60, 150, 60)), 30)
    stacked_at = rng.random() < (0.04 if style == "us" and not two_line else 0.0)
    ink_top, ink_bottom = float(h), 0.0
    side = style == "us" and n == 1 and not stacked_at and rng.random() < 0.3
    for r, row in enumerate(rows):
        max_w = int(w * rng.uniform(0.62, 0.9)) if n == 1 else int(w * 0.8)
        if stacked_at:
            max_w = int(max_w * 0.85)
        if side:
            max_w = min(max_w, int(w * rng.uniform(0.55, 0.7)))
        mask, emblems = _main_text(rng, row, cap_h, max_w, style)
        mw = mask.shape[1]
        x = int((w - mw) / 2 + rng.uniform(-0.05, 0.05) * w)
        y = int(top * h + band * (r + 0.5) / n - cap_h / 2 + rng.uniform(-0.04, 0.04) * h)
        ink_top, ink_bottom = min(ink_top, y), max(ink_bottom, y + mask.shape[0])
        if stacked_at:
            sx = max(1, x - int(cap_h * 0.45))
            _stacked(rng, img, sx, y, cap_h, ink)
        if outline:
            thick = cv2.dilate(mask, np.ones((3, 3), np.uint8))
            _paint(img, thick, x, y, (250, 250, 250) if sum(ink) < 300 else (20, 20, 20))
        if emboss:
            d = int(rng.choice([-1, 1])) * max(1, cap_h // 25)
            _paint(img, mask, x + d, y + abs(d), shadow_col, 0.6)
        _paint(img, mask, x, y, ink)
        for em, ex in emblems:
            _paint(img, em, x + ex, y + (cap_h - em.shape[0]) // 2, emblem_col)
        if side:
            _side_graphic(rng, img, x, mask.shape[1], y, cap_h)
    return ink_top / h, ink_bottom / h


def _side_graphic(rng: np.random.Generator, img: np.ndarray, x: int, mw: int, y: int, cap_h: int) -> None:
    """A logo or a small sticker beside the characters, level with them; it is not part of the reading."""
    w = img.shape[1]
    gap = int(cap_h * rng.uniform(0.1, 0.35))
    room = max(x, w - x - mw) - gap - 2
    size = min(int(cap_h * rng.uniform(0.45, 0.95)), room)
    if size < max(4, cap_h // 3):
        return
    left = x - gap - size
    right = x + mw + gap
    if left >= 0 and (right + size > w or rng.random() < 0.6):
        gx = left
    elif right + size <= w:
        gx = right
    else:
        return
    gy = y + int((cap_h - size) * rng.uniform(0.0, 1.0))
    colour = _colour(rng, (*INKS, (40, 120, 230), (30, 170, 240), (60, 150, 60), (40, 200, 240)), 30)
    if rng.random() < 0.6:
        _paint(img, _emblem(rng, size), gx, gy, colour)
        return
    sw = max(4, int(size * rng.uniform(0.6, 1.0)))
    cv2.rectangle(img, (gx, gy), (gx + sw, gy + size), colour, -1)
    lines = (str(rng.choice(MONTHS)), f"{int(rng.integers(0, 100)):02d}")
    th = max(3, size // 3)
    for i, label in enumerate(lines):
        m = _text_mask(rng, label, th, max(3, sw - 2), role="plate", caps_only=True)
        _paint(img, m, gx + (sw - m.shape[1]) // 2, gy + 2 + i * (th + 2), (20, 20, 20))


def _decor_us(rng: np.random.Generator, img: np.ndarray, ink: Colour, dark: bool) -> tuple[float, float]:
    """State name, slogan, county, stickers, band; returns the (top, bottom) band left for the characters."""
    h, w = img.shape[:2]
    top, bottom = 0.2, 0.86
    if rng.random() < 0.25:
        # A coloured band behind the state name.
        bh = int(h * rng.uniform(0.16, 0.26))
        img[:bh] = _colour(rng, DARK_BGS + INKS if not dark else LIGHT_BGS)
        band_ink: Colour = (250, 250, 250) if img[0, 0].mean() < 128 else _colour(rng, INKS)
        top = bh / h + 0.02
    else:
        band_ink = _colour(rng, (*INKS, (40, 40, 210), (30, 30, 180))) if not dark else _colour(rng, BRIGHT_INKS)
    state = US_STATES[int(rng.integers(len(US_STATES)))]
    roll = rng.random()
    state = state.upper() if roll < 0.55 else state
    if rng.random() < 0.9:
        sh = int(h * rng.uniform(0.1, 0.19))
        m = _text_mask(rng, state, sh, int(w * rng.uniform(0.45, 0.85)), caps_only=state.isupper())
        x = int((w - m.shape[1]) / 2) if rng.random() < 0.8 else int(w * 0.05)
        _paint(img, m, x, int(h * rng.uniform(0.015, 0.05)), band_ink)
        top = max(top, (sh + h * 0.05) / h + 0.02)
    if rng.random() < 0.8:
        slogan = (
            SLOGANS[int(rng.integers(len(SLOGANS)))]
            if rng.random() < 0.8
            else COUNTIES[int(rng.integers(len(COUNTIES)))]
        )
        if rng.random() < 0.4:
            slogan = slogan.upper()
        sh = int(h * rng.uniform(0.07, 0.13))
        m = _text_mask(rng, slogan, sh, int(w * rng.uniform(0.4, 0.85)), caps_only=slogan.isupper())
        slogan_ink = band_ink if rng.random() < 0.5 else _colour(rng, INKS if not dark else BRIGHT_INKS)
        _paint(img, m, int((w - m.shape[1]) / 2), int(h * rng.uniform(0.83, 0.9) - m.shape[0] / 2), slogan_ink)
        bottom = min(bottom, 0.8 - sh / h * 0.2)
    _stickers(rng, img, ink)
    return top, bottom


def _decor_eu(rng: np.random.Generator, img: np.ndarray) -> tuple[float, float, float]:
    h, w = img.shape[:2]
    bw = int(h * rng.uniform(0.38, 0.46))
    img[:, :bw] = _colour(rng, ((150, 50, 0), (170, 60, 10)), 15)
    c = (bw // 2, int(h * 0.33))
    for a in np.linspace(0, 2 * np.pi, 13)[:-1]:
        p = (int(c[0] + np.cos(a) * bw * 0.3), int(c[1] + np.sin(a) * bw * 0.3))
        cv2.circle(img, p, max(1, h // 40), (0, 210, 250), -1)
    code = str(rng.choice(["D", "F", "I", "E", "NL", "B", "PL", "A", "P", "CZ"]))
    m = _text_mask(rng, code, int(h * 0.22), int(bw * 0.9), role="plate", caps_only=True)
    _paint(img, m, (bw - m.shape[1]) // 2, int(h * 0.62), (250, 250, 250))
    return bw / w + 0.03, 0.12, 0.9


def _decor_mercosur(rng: np.random.Generator, img: np.ndarray, country: str) -> tuple[float, float]:
    h, w = img.shape[:2]
    bh = int(h * rng.uniform(0.2, 0.27))
    img[:bh] = _colour(rng, ((150, 60, 10), (170, 80, 20)), 15)
    label = "BRASIL" if country == "br" else "REPUBLICA ARGENTINA"
    m = _text_mask(rng, label, int(bh * 0.6), int(w * 0.6), role="plate", caps_only=True)
    _paint(img, m, (w - m.shape[1]) // 2, int(bh * 0.2), (250, 250, 250))
    fx = int(w * 0.88)
    cv2.rectangle(
        img,
        (fx, int(bh * 0.2)),
        (fx + int(bh * 0.9), int(bh * 0.8)),
        (60, 160, 60) if country == "br" else (230, 190, 120),
        -1,
    )
    cv2.circle(img, (int(w * 0.07), bh // 2), max(2, bh // 3), (250, 250, 250), 1)
    return bh / h + 0.04, 0.96


def _frame_lettering(rng: np.random.Generator, top: bool) -> str:
    """What a dealer frame says: along the bottom a dealer's name (or a town), on top a town, a phone number or a
    web address."""
    roll = rng.random()
    if top and roll < 0.35:
        return f"({rng.integers(200, 990)}) {rng.integers(200, 990)}-{rng.integers(0, 10000):04d}"
    if top and roll < 0.5:
        return f"{DEALER_NAMES[int(rng.integers(len(DEALER_NAMES)))]}.COM"
    if top or roll < 0.3:
        return COUNTIES[int(rng.integers(len(COUNTIES)))].upper()
    name = DEALER_NAMES[int(rng.integers(len(DEALER_NAMES)))]
    return f"{name} {DEALER_KINDS[int(rng.integers(len(DEALER_KINDS)))]}" if rng.random() < 0.8 else name


def _dealer_frame(rng: np.random.Generator, img: np.ndarray, chars: tuple[float, float]) -> None:
    """A dealer's frame around the plate: its sides thin, its bottom (and often its top) a lettered band.

    Real frames come up to the characters: a bottom band with a dealer's name in bold capitals just under
    them, a town, phone number or web address just over them. Read with the characters, that lettering turns an F
    into an E or a W into an H (the US plates of real-scenes-validation, counted by class of error). `chars` is
    where the characters are (top and bottom, fractions of the height); the bands stop short of them or touch
    them, never cover more than a sliver.
    """
    h, w = img.shape[:2]
    fc = _colour(rng, ((20, 20, 20), (170, 170, 170), (40, 40, 40), (35, 25, 110), (90, 30, 20)))
    side = max(1, int(h * rng.uniform(0.02, 0.06)))
    gap_top, gap_bottom = (float(v) for v in rng.uniform(-0.02, 0.08, 2))
    top = int(h * (rng.uniform(0.03, 0.08) if rng.random() < 0.5 else max(0.03, chars[0] - gap_top)))
    bottom = int(h * (rng.uniform(0.06, 0.14) if rng.random() < 0.3 else max(0.06, 1 - chars[1] - gap_bottom)))
    top, bottom = min(top, int(0.3 * h)), min(bottom, int(0.32 * h))
    img[:top], img[h - bottom :], img[:, :side], img[:, w - side :] = fc, fc, fc, fc
    lettering = (220, 220, 220) if fc[0] + fc[1] + fc[2] < 300 else (20, 20, 20)
    if rng.random() < 0.15:
        lettering = _colour(rng, ((40, 40, 210), (60, 200, 240), (240, 240, 240)))
    for band, at_top in ((bottom, False), (top, True)):
        if band < 6 or rng.random() > (0.8 if not at_top else 0.45):
            continue
        m = _text_mask(
            rng,
            _frame_lettering(rng, at_top),
            max(4, int(band * rng.uniform(0.5, 0.85))),
            int(w * rng.uniform(0.5, 0.92)),
            role="plate" if rng.random() < 0.6 else "deco",
            caps_only=True,
        )
        if rng.random() < 0.4:
            m = cv2.dilate(m, np.ones((2, 2), np.uint8))  # the bold lettering most frames carry
        y = (band - m.shape[0]) // 2 if at_top else h - band + (band - m.shape[0]) // 2
        _paint(img, m, max(0, (w - m.shape[1]) // 2), max(0, y), lettering)


def _finish(rng: np.random.Generator, img: np.ndarray, ink: Colour, chars: tuple[float, float]) -> np.ndarray:
    """Border, frame, bolts, dirt, fading, glare and shadow; returns the uint8 plate.

    `chars` is where the characters that are read are (top and bottom, fractions of the height).
    """
    h, w = img.shape[:2]
    if rng.random() < 0.5:
        t = max(1, int(h * rng.uniform(0.01, 0.03)))
        cv2.rectangle(img, (t, t), (w - 1 - t, h - 1 - t), ink if rng.random() < 0.6 else (90, 90, 90), t)
    if rng.random() < 0.5:
        for bx in (0.22, 0.78):
            for by in (0.08,) if rng.random() < 0.6 else (0.08, 0.92):
                c = (int(w * (bx + rng.uniform(-0.03, 0.03))), int(h * by))
                cv2.ellipse(
                    img,
                    c,
                    (max(2, h // 22), max(2, h // 30)),
                    0,
                    0,
                    360,
                    _colour(rng, ((70, 70, 70), (190, 190, 190), (20, 20, 20))),
                    -1,
                )
    if rng.random() < DEALER_FRAME_RATE:
        _dealer_frame(rng, img, chars)
    if rng.random() < 0.35:
        dirt = cv2.resize(rng.uniform(0, 1, (4, 8)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        dirt = np.clip(dirt - 0.5, 0, 1)[..., None] * rng.uniform(0.2, 0.7)
        img = img * (1 - dirt) + np.array([50, 70, 90], np.float32) * dirt
    if rng.random() < 0.25:
        img = img * (1 - (f := rng.uniform(0.1, 0.45))) + rng.uniform(150, 240) * f
    if rng.random() < 0.2:
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.2, 0.6) * w
        gx = np.exp(-((np.arange(w, dtype=np.float32) - cx) ** 2) / (2 * r * r))
        gy = np.exp(-((np.arange(h, dtype=np.float32) - cy) ** 2) / (2 * r * r)) * np.float32(rng.uniform(0.3, 0.8))
        g = np.outer(gy, gx)[..., None]
        img = img * (1 - g) + 255 * g
    if rng.random() < 0.2:
        t = np.linspace(rng.uniform(0.3, 0.8), 1.0, w if rng.random() < 0.5 else h, dtype=np.float32)
        img = img * (t[None, :, None] if t.size == w else t[:, None, None])
    return np.clip(img, 0, 255).astype(np.uint8)


def render_plate(
    rng: np.random.Generator, style: str | None = None, text: str | None = None, two_line: bool | None = None
) -> Plate:
    """Render one plate; `style` and `text` (A-Z0-9, spaces between groups allowed) are random when None."""
    if style is None:
        style = STYLES[int(rng.choice(len(STYLES), p=STYLE_WEIGHTS))]
    if style not in ASPECT:
        raise ValueError(f"unknown plate style {style!r}; choose one of {', '.join(STYLES)}")
    grouped = group_text(text.upper()) if text else text_for(rng, style)
    label = "".join(ch for ch in grouped if ch.isalnum())
    if two_line is None:
        two_line = bool(rng.random() < TWO_LINE_RATE) and len(label) >= 4
    h = int(rng.integers(64, 120))
    w = int(h * ASPECT[style] * rng.uniform(0.94, 1.06))
    if style == "us":
        dark = rng.random() < 0.12
        img = _background(rng, h, w, dark)
        ink = _colour(rng, BRIGHT_INKS if dark else INKS)
        top, bottom = _decor_us(rng, img, ink, dark)
    elif style == "eu":
        img = np.empty((h, w, 3), np.float32)
        img[:] = (245, 245, 245) if rng.random() < 0.8 else (40, 200, 245)
        ink = _colour(rng, ((20, 20, 20),), 10)
        left, top, bottom = _decor_eu(rng, img)
        sub = img[:, int(left * w) :]
        chars = _place_main(rng, sub, grouped, style, ink, two_line, top, bottom)
        return Plate(_finish(rng, img, ink, chars), label, style, two_line)
    elif style == "mercosur":
        img = _background(rng, h, w, False) * 0.3 + 250 * 0.7
        ink = _colour(rng, ((20, 20, 20),), 10) if rng.random() < 0.85 else _colour(rng, ((30, 30, 180), (40, 110, 30)))
        top, bottom = _decor_mercosur(rng, img, "br" if "D" in grouped[4:5] or rng.random() < 0.5 else "ar")
    elif style == "br-old":
        img = np.empty((h, w, 3), np.float32)
        img[:] = _colour(rng, ((175, 175, 175), (200, 200, 200), (40, 40, 170)), 15)
        ink = (20, 20, 20) if img[0, 0, 0] > 100 else (240, 240, 240)
        m = _text_mask(
            rng,
            str(rng.choice(["SP - SAO PAULO", "RJ - RIO DE JANEIRO", "MG - BELO HORIZONTE", "PR - CURITIBA"])),
            int(h * 0.14),
            int(w * 0.6),
            role="plate",
            caps_only=True,
        )
        _paint(img, m, (w - m.shape[1]) // 2, int(h * 0.05), ink)
        top, bottom = 0.24, 0.96
    else:  # ar-old
        img = np.empty((h, w, 3), np.float32)
        img[:] = _colour(rng, ((20, 20, 20), (35, 30, 30)), 8)
        ink = _colour(rng, ((240, 240, 240),), 12)
        if rng.random() < 0.7:
            m = _text_mask(rng, "REPUBLICA ARGENTINA", int(h * 0.1), int(w * 0.5), role="plate", caps_only=True)
            _paint(img, m, (w - m.shape[1]) // 2, int(h * 0.05), ink)
        top, bottom = 0.17, 0.95
    chars = _place_main(rng, img, grouped, style, ink, two_line, top, bottom)
    return Plate(_finish(rng, img, ink, chars), label, style, two_line)
