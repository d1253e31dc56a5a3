"""Synthetic detector scenes: plates from ``render_plate`` on drawn vehicles over road, parking and street scenes.

``render_scene(rng, height, width)`` returns one image with the axis-aligned box (x, y, w, h in pixels) of each
plate's outer edge, the convention of the ``plates-scenes-boxes`` labels, and the plate texts. A real photo with
its own labelled plates can be passed as ``backdrop``; its boxes are carried through every transform.

The pieces are separate functions so that other generators (the video fixtures) can reuse them:
``background`` draws a street, ``draw_vehicle`` a car or van seen from behind or in front with its plate mount,
``place_vehicle`` pastes it through a homography and returns the plate's corners in the frame, ``add_distractors``
draws text signs, stickers and windows that are not plates, and ``degrade`` applies the camera: night, infrared
grey, glare, rain, blur, motion blur, noise and JPEG.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from training.synth.jpeg import recompress
from training.synth.plates import render_plate

CAR_COLOURS = (
    (235, 235, 235), (200, 200, 200), (150, 150, 150), (90, 90, 90), (30, 30, 30), (20, 20, 20),
    (40, 40, 170), (30, 30, 120), (140, 80, 30), (90, 50, 20), (60, 100, 60), (150, 190, 210), (0, 180, 230),
)  # fmt: skip
SIGN_WORDS = (
    "STOP", "PARKING", "EXIT", "NO PARKING", "ONE WAY", "SALE", "OPEN", "TAXI", "BUS", "HOTEL", "PHARMACY",
    "SPEED 30", "P 2H", "CAFE", "POLICE", "ENTRANCE", "AUTO SERVICE", "TOWING", "LOADING ZONE", "GARAGE 24H",
)  # fmt: skip


@dataclass
class Scene:
    """One rendered scene: BGR image, plate boxes (N x 4 float32, x y w h pixels) and the plates' texts."""

    image: np.ndarray
    boxes: np.ndarray
    texts: list[str] = field(default_factory=list)


@dataclass
class Vehicle:
    """A drawn vehicle: BGR image, uint8 coverage mask, and the 4 corners of its plate mount (TL, TR, BR, BL)."""

    image: np.ndarray
    mask: np.ndarray
    plate_quad: np.ndarray


def _jitter(rng: np.random.Generator, colour: tuple[int, int, int], amount: int = 20) -> tuple[int, int, int]:
    c = np.clip(np.asarray(colour) + rng.integers(-amount, amount + 1, 3), 0, 255)
    return int(c[0]), int(c[1]), int(c[2])


def _noise_field(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Smooth random field in [0, 1] (bilinear upsampling of a coarse grid)."""
    small = rng.random((max(2, h * cells // max(h, w)), max(2, w * cells // max(h, w))), dtype=np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A road, parking lot or street front with buildings, or a plain texture; uint8 BGR."""
    kind = rng.choice(["road", "parking", "street", "texture"], p=[0.3, 0.25, 0.3, 0.15])
    base = rng.uniform(60, 150)
    img = np.empty((h, w, 3), np.float32)
    img[:] = base + rng.uniform(-8, 8, 3)
    img *= (0.75 + 0.5 * _noise_field(rng, h, w, 6))[..., None]
    if kind == "texture":
        img[:] = cv2.resize(rng.integers(0, 256, (3, 4, 3)).astype(np.float32), (w, h))
    horizon = int(h * rng.uniform(0.0, 0.45))
    if kind == "street" and horizon > 4:
        img[:horizon] = _jitter(rng, (200, 180, 160), 40)
        x = 0
        while x < w:
            bw = int(rng.integers(w // 8, w // 2))
            top = int(rng.integers(0, max(1, horizon - 2)))
            colour = _jitter(rng, (120, 130, 140), 60)
            cv2.rectangle(img, (x, top), (x + bw, horizon), colour, -1)
            add_windows(rng, img, (x, top, bw, horizon - top))
            x += bw
    line = _jitter(rng, (230, 230, 230) if rng.random() < 0.7 else (40, 200, 230), 15)
    if kind in ("road", "parking"):
        for _ in range(int(rng.integers(1, 6))):
            x0 = int(rng.integers(-w // 2, w + w // 2))
            x1 = x0 + int(rng.integers(-w // 2, w // 2))
            cv2.line(img, (x0, horizon), (x1, h), line, int(rng.integers(1, max(2, w // 60))))
    if kind == "parking":
        y = int(rng.uniform(horizon, h))
        cv2.line(img, (0, y), (w, y + int(rng.integers(-h // 8, h // 8 + 1))), line, max(1, w // 150))
    img += rng.normal(0, rng.uniform(2, 10), (h, w, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def add_windows(rng: np.random.Generator, img: np.ndarray, rect: tuple[int, int, int, int]) -> None:
    """A grid of building windows (dark or lit rectangles): plate-sized, plate-shaped, and not plates."""
    x, y, w, h = rect
    ww, wh = int(rng.integers(6, 30)), int(rng.integers(5, 20))
    gap_x, gap_y = ww + int(rng.integers(3, 20)), wh + int(rng.integers(4, 20))
    lit = rng.random() < 0.3
    for yy in range(y + 4, y + h - wh, gap_y):
        for xx in range(x + 3, x + w - ww, gap_x):
            colour = _jitter(rng, (200, 230, 240) if lit and rng.random() < 0.5 else (60, 50, 40), 25)
            cv2.rectangle(img, (xx, yy), (xx + ww, yy + wh), colour, -1)


def draw_vehicle(rng: np.random.Generator, width: int, view: str | None = None) -> Vehicle:
    """Draw a car or van from behind (``rear``) or in front (``front``), ``width`` pixels wide, plate mount included."""
    view = view or ("rear" if rng.random() < 0.65 else "front")
    van = rng.random() < 0.2
    w, h = width, int(width * rng.uniform(0.7, 0.95))
    img = np.zeros((h, w, 3), np.float32)
    mask = np.zeros((h, w), np.uint8)
    body = _jitter(rng, CAR_COLOURS[int(rng.integers(len(CAR_COLOURS)))], 15)
    dark = (20, 20, 22)
    belt = rng.uniform(0.4, 0.5) if not van else rng.uniform(0.45, 0.55)
    roof_in = rng.uniform(0.12, 0.2) if not van else rng.uniform(0.02, 0.06)
    cabin = np.int32(
        [[w * roof_in, h * 0.05], [w * (1 - roof_in), h * 0.05], [w * 0.95, h * belt], [w * 0.05, h * belt]]
    )
    lower = np.int32([[w * 0.03, h * belt], [w * 0.97, h * belt], [w, h * 0.88], [0, h * 0.88]])
    for poly, colour in ((cabin, body), (lower, body)):
        cv2.fillPoly(img, [poly], colour)
        cv2.fillPoly(mask, [poly], 255)
    for x0 in (0.06, 0.76):  # wheels and tyres
        cv2.rectangle(img, (int(w * x0), int(h * 0.8)), (int(w * (x0 + 0.18)), h - 1), dark, -1)
        cv2.rectangle(mask, (int(w * x0), int(h * 0.8)), (int(w * (x0 + 0.18)), h - 1), 255, -1)
    glass = np.int32(
        [
            [w * (roof_in + 0.05), h * 0.1],
            [w * (0.95 - roof_in), h * 0.1],
            [w * 0.88, h * (belt - 0.04)],
            [w * 0.12, h * (belt - 0.04)],
        ]
    )
    cv2.fillPoly(img, [glass], _jitter(rng, (45, 40, 35), 15))
    if rng.random() < 0.5:  # a reflection streak across the glass
        x = int(rng.uniform(0.2, 0.7) * w)
        streak = np.int32(
            [
                [x, h * 0.1],
                [x + w * 0.08, h * 0.1],
                [x - w * 0.02, h * (belt - 0.04)],
                [x - w * 0.1, h * (belt - 0.04)],
            ]
        )
        cv2.fillPoly(img, [streak], _jitter(rng, (120, 120, 120), 30))
    lamp = _jitter(rng, (30, 30, 200) if view == "rear" else (220, 225, 225), 20)
    lamp_w, lamp_h = w * rng.uniform(0.12, 0.2), h * rng.uniform(0.06, 0.12)
    ly = h * (belt + rng.uniform(0.02, 0.08))
    for lx in (w * 0.05, w * 0.95 - lamp_w):
        cv2.rectangle(img, (int(lx), int(ly)), (int(lx + lamp_w), int(ly + lamp_h)), lamp, -1)
    if view == "front":  # grille between the headlights, with bars
        gx0, gx1 = int(w * 0.3), int(w * 0.7)
        gy0, gy1 = int(ly), int(ly + h * rng.uniform(0.1, 0.18))
        cv2.rectangle(img, (gx0, gy0), (gx1, gy1), dark, -1)
        for yy in range(gy0 + 2, gy1, max(2, (gy1 - gy0) // 5)):
            cv2.line(img, (gx0, yy), (gx1, yy), _jitter(rng, (110, 110, 110), 30), 1)
    bumper_top = h * rng.uniform(0.68, 0.74)
    cv2.rectangle(
        img,
        (0, int(bumper_top)),
        (w, int(h * 0.86)),
        _jitter(rng, dark if rng.random() < 0.5 else body, 10),
        -1,
    )
    shade = np.linspace(rng.uniform(0.85, 1.15), rng.uniform(0.6, 0.95), h, dtype=np.float32)
    img *= shade[:, None, None]
    pw = w * rng.uniform(0.17, 0.3)
    ph = pw / rng.uniform(1.9, 4.8)
    cx = w * (0.5 + rng.uniform(-0.06, 0.06))
    cy = rng.uniform(bumper_top - ph * 0.3, h * 0.84 - ph / 2) if rng.random() < 0.6 else h * (belt + 0.12)
    quad = np.float32(
        [
            [cx - pw / 2, cy - ph / 2],
            [cx + pw / 2, cy - ph / 2],
            [cx + pw / 2, cy + ph / 2],
            [cx - pw / 2, cy + ph / 2],
        ]
    )
    out = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:  # a make badge or model lettering, small text that is not a plate
        badge = str(rng.choice(["GT", "4x4", "HYBRID", "SPORT", "TDI"]))
        org = (int(w * 0.62), int(ly + lamp_h * 1.6))
        cv2.putText(out, badge, org, cv2.FONT_HERSHEY_SIMPLEX, w / 900, (190, 190, 190), max(1, w // 400))
    return Vehicle(out, mask, quad)


def plate_on_vehicle(rng: np.random.Generator, vehicle: Vehicle, night: bool = False) -> tuple[Vehicle, str]:
    """Render a plate with ``render_plate`` and warp it into the vehicle's plate mount; returns the plate text."""
    plate = render_plate(rng)
    ph, pw = plate.image.shape[:2]
    quad = vehicle.plate_quad.copy()
    qw = quad[1, 0] - quad[0, 0]
    quad[2:, 1] = quad[0, 1] + qw * ph / pw  # keep the plate's own aspect ratio
    h, w = vehicle.image.shape[:2]
    interp = cv2.INTER_AREA if qw < pw else cv2.INTER_LINEAR
    small = cv2.resize(plate.image, (max(2, int(qw)), max(2, int(qw * ph / pw))), interpolation=interp)
    m = cv2.getPerspectiveTransform(
        np.float32([[0, 0], [small.shape[1], 0], small.shape[1::-1], [0, small.shape[0]]]), quad
    )
    warped = cv2.warpPerspective(small, m, (w, h), flags=cv2.INTER_LINEAR)
    cover = cv2.warpPerspective(np.full(small.shape[:2], 255, np.uint8), m, (w, h))
    if night:  # the plate lamp keeps the plate readable while the body is dark
        warped = cv2.convertScaleAbs(warped, alpha=rng.uniform(1.5, 3.0))
    alpha = cover.astype(np.float32)[..., None] / 255.0
    image = (vehicle.image * (1 - alpha) + warped * alpha).astype(np.uint8)
    return Vehicle(image, np.maximum(vehicle.mask, cover), quad), plate.text


def place_vehicle(
    rng: np.random.Generator,
    frame: np.ndarray,
    vehicle: Vehicle,
    centre: tuple[float, float],
    plate_width: float,
) -> np.ndarray:
    """Paste the vehicle so its plate centre lands at ``centre`` with ``plate_width`` px; return the plate corners."""
    q = vehicle.plate_quad
    scale = plate_width / float(q[1, 0] - q[0, 0])
    angle = np.deg2rad(rng.normal(0, 4))
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    pc = q.mean(axis=0)
    affine = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]], np.float64)
    affine[:2, 2] = np.asarray(centre) - affine[:2, :2] @ pc
    # Perspective from a camera off to the side or above: a mild projective term around the plate centre.
    persp = np.eye(3)
    persp[2, 0], persp[2, 1] = (
        rng.normal(0, 0.35) / vehicle.image.shape[1],
        rng.normal(0, 0.2) / vehicle.image.shape[0],
    )
    to_centre = np.eye(3)
    to_centre[:2, 2] = -pc
    m = affine @ np.linalg.inv(to_centre) @ persp @ to_centre
    fh, fw = frame.shape[:2]
    img = vehicle.image
    if scale < 0.7:  # shrink first so the warp does not alias
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        pre = np.diag([1 / scale, 1 / scale, 1.0])
        m = m @ pre
        mask = cv2.resize(vehicle.mask, img.shape[1::-1], interpolation=cv2.INTER_AREA)
    else:
        mask = vehicle.mask
    warped = cv2.warpPerspective(img, m, (fw, fh), flags=cv2.INTER_LINEAR)
    cover = cv2.warpPerspective(mask, m, (fw, fh), flags=cv2.INTER_LINEAR).astype(np.float32)[..., None] / 255.0
    frame[:] = (frame * (1 - cover) + warped * cover).astype(np.uint8)
    full = np.eye(3) if scale >= 0.7 else np.diag([scale, scale, 1.0])
    corners = cv2.perspectiveTransform(q[None].astype(np.float64), m @ full)[0]
    return corners.astype(np.float32)


def add_distractors(rng: np.random.Generator, frame: np.ndarray, count: int) -> None:
    """Text signs, stickers and plate-sized light or dark rectangles: things a detector must learn are not plates."""
    fh, fw = frame.shape[:2]
    for _ in range(count):
        kind = rng.choice(["sign", "sticker", "panel"], p=[0.5, 0.25, 0.25])
        w = int(fw * np.exp(rng.uniform(np.log(0.04), np.log(0.35))))
        x, y = int(rng.integers(-w // 4, fw - w // 2)), int(rng.integers(0, max(1, fh - 10)))
        if kind == "sign":
            word = str(rng.choice(SIGN_WORDS))
            lines = 1 if rng.random() < 0.4 else 2
            h = int(w * rng.uniform(0.25, 0.9) * lines)
            bg = _jitter(
                rng,
                tuple(
                    int(v)
                    for v in rng.choice([(240, 240, 240), (30, 30, 200), (160, 90, 20), (40, 120, 40), (0, 200, 240)])
                ),
                15,
            )
            cv2.rectangle(frame, (x, y), (x + w, y + h), bg, -1)
            ink = (20, 20, 20) if sum(bg) > 450 else (245, 245, 245)
            size = w / max(1, 22 * len(word)) * 1.2
            for i in range(lines):
                text = word if i == 0 else str(rng.choice(SIGN_WORDS))
                org = (x + 3, y + int((i + 0.75) * h / lines))
                cv2.putText(frame, text, org, cv2.FONT_HERSHEY_DUPLEX, size, ink, max(1, int(size * 2)))
            if rng.random() < 0.6:  # a post under the sign
                cv2.rectangle(frame, (x + w // 2 - 1, y + h), (x + w // 2 + max(1, w // 20), fh), (90, 90, 90), -1)
        elif kind == "sticker":
            r = max(2, w // 6)
            cv2.circle(
                frame,
                (x, y),
                r,
                _jitter(rng, (int(rng.integers(256)), int(rng.integers(256)), int(rng.integers(256))), 0),
                -1,
            )
            cv2.putText(
                frame,
                str(rng.integers(10, 99)),
                (x - r // 2, y + r // 3),
                cv2.FONT_HERSHEY_SIMPLEX,
                r / 25,
                (20, 20, 20),
                1,
            )
        else:
            h = int(w / rng.uniform(1.5, 5))
            cv2.rectangle(
                frame,
                (x, y),
                (x + w, y + h),
                _jitter(rng, (225, 225, 225) if rng.random() < 0.5 else (40, 40, 40), 25),
                -1,
            )
            if rng.random() < 0.5:
                cv2.rectangle(frame, (x, y), (x + w, y + h), (30, 30, 30), max(1, w // 40))


def degrade(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """The camera and the weather: night, infrared grey, glare, rain, blur, motion blur, noise, JPEG."""
    out = img.astype(np.float32)
    h, w = img.shape[:2]
    if rng.random() < 0.1:  # glare: a bright blob, sometimes across a plate
        mask = np.zeros((h, w), np.float32)
        cv2.circle(mask, (int(rng.integers(w)), int(rng.integers(h))), int(rng.integers(5, max(6, w // 6))), 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), w / 40)
        out += mask[..., None] * rng.uniform(80, 250)
    if rng.random() < 0.12:  # infrared grey
        grey = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
        out = np.repeat(grey[..., None], 3, axis=2)
    if rng.random() < 0.08:  # rain: thin bright streaks
        for _ in range(int(rng.integers(20, 120))):
            x, y = int(rng.integers(w)), int(rng.integers(h))
            length = int(rng.integers(4, 16))
            cv2.line(out, (x, y), (x + length // 4, y + length), (200, 200, 200), 1)
        out = out * 0.85 + 20
    if rng.random() < 0.25:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.6))
    if rng.random() < 0.12:  # motion blur along a random direction
        k = int(rng.integers(3, 9))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (k, k))
        out = cv2.filter2D(out, -1, kernel / max(kernel.sum(), 1e-6))
    out *= rng.uniform(0.7, 1.25)
    out += rng.uniform(-25, 25)
    if rng.random() < 0.5:
        out += rng.normal(0, rng.uniform(1, 8), out.shape).astype(np.float32)
    return recompress(rng, np.clip(out, 0, 255).astype(np.uint8), 0.5, 25)


def occlude(rng: np.random.Generator, frame: np.ndarray, corners: np.ndarray) -> None:
    """Cover up to about a third of a plate with a pole, a tow bar or a bike rack drawn over it."""
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    pw, ph = x1 - x0, y1 - y0
    if rng.random() < 0.5:  # vertical bar
        bw = pw * rng.uniform(0.08, 0.3)
        bx = x0 + rng.uniform(0, pw - bw)
        cv2.rectangle(frame, (int(bx), int(y0 - ph)), (int(bx + bw), int(y1 + ph)), _jitter(rng, (60, 60, 60), 40), -1)
    else:  # from one side
        bw = pw * rng.uniform(0.1, 0.3)
        bx = x0 - 2 if rng.random() < 0.5 else x1 - bw
        cv2.rectangle(
            frame,
            (int(bx), int(y0 - ph)),
            (int(bx + bw), int(y1 + 2 * ph)),
            _jitter(rng, (90, 90, 90), 60),
            -1,
        )


def _backdrop(
    rng: np.random.Generator, photo: np.ndarray, boxes: np.ndarray, h: int, w: int
) -> tuple[np.ndarray, np.ndarray]:
    """Fit a real photo into the frame (random scale and position, rest filled with a drawn street)."""
    ph, pw = photo.shape[:2]
    scale = min(h / ph, w / pw) * rng.uniform(0.5, 1.0)
    sx = scale * rng.uniform(0.9, 1.4)  # photos were stretched to square: undo some of it
    nw, nh = max(8, int(pw * sx)), max(8, int(ph * scale))
    nw = min(nw, w)
    sx = nw / pw
    frame = background(rng, h, w)
    x, y = int(rng.integers(0, w - nw + 1)), int(rng.integers(0, h - nh + 1))
    frame[y : y + nh, x : x + nw] = cv2.resize(photo, (nw, nh), interpolation=cv2.INTER_AREA)
    b = boxes.astype(np.float32).reshape(-1, 4) * np.float32([sx, nh / ph, sx, nh / ph])
    b[:, 0] += x
    b[:, 1] += y
    return frame, b


def render_scene(
    rng: np.random.Generator,
    height: int,
    width: int,
    backdrop: tuple[np.ndarray, np.ndarray] | None = None,
    min_plate: float = 12.0,
    max_plate_frac: float = 0.4,
) -> Scene:
    """Render one scene of ``height x width`` with its plate boxes (x, y, w, h) and texts.

    ``backdrop`` is an optional real photo and its labelled boxes (N x 4, x y w h); it fills part of the frame.
    Plate widths are log-uniform between ``min_plate`` pixels and ``max_plate_frac`` of the frame width.
    """
    if backdrop is not None:
        frame, boxes = _backdrop(rng, backdrop[0], backdrop[1], height, width)
        box_list, texts = [tuple(b) for b in boxes], [""] * len(boxes)
        n_vehicles = int(rng.integers(0, 2))
    else:
        frame = background(rng, height, width)
        box_list, texts = [], []
        n_vehicles = int(rng.choice([0, 1, 2, 3], p=[0.07, 0.55, 0.28, 0.1]))
    add_distractors(rng, frame, int(rng.integers(0, 4)))
    night = rng.random() < 0.15
    sizes = np.sort(np.exp(rng.uniform(np.log(min_plate), np.log(max_plate_frac * width), n_vehicles)))
    for plate_w in sizes:  # small (far) vehicles first so near ones are drawn over them
        veh_w = int(np.clip(plate_w / 0.22, 40, 2400))
        vehicle, text = plate_on_vehicle(rng, draw_vehicle(rng, veh_w), night)
        margin = plate_w * 0.6
        cx = rng.uniform(min(margin, width / 2), max(width - margin, width / 2))
        cy = rng.uniform(min(margin * 0.5, height / 2), max(height - margin * 0.5, height / 2))
        corners = place_vehicle(rng, frame, vehicle, (cx, cy), float(plate_w))
        if rng.random() < 0.08:
            occlude(rng, frame, corners)
        x0, y0 = np.clip(corners.min(axis=0), 0, [width, height])
        x1, y1 = np.clip(corners.max(axis=0), 0, [width, height])
        box = (float(x0), float(y0), float(x1 - x0), float(y1 - y0))
        # A nearer vehicle drawn later can hide an earlier plate: drop boxes that are now mostly covered.
        kept = [(b, t) for b, t in zip(box_list, texts, strict=True) if _covered(b, box) < 0.5]
        box_list, texts = [b for b, _ in kept], [t for _, t in kept]
        if box[2] >= 4 and box[3] >= 3:
            box_list.append(box)
            texts.append(text)
    if night:
        frame = (frame.astype(np.float32) * rng.uniform(0.25, 0.55)).astype(np.uint8)
    image = degrade(rng, frame)
    return Scene(image, np.asarray(box_list, np.float32).reshape(-1, 4), texts)


def _covered(box: tuple[float, ...], by: tuple[float, ...]) -> float:
    """Share of ``box`` area covered by the region of the vehicle around ``by`` (the plate box grown 3x)."""
    bx, by_, bw, bh = box
    cx, cy = by[0] + by[2] / 2, by[1] + by[3] / 2
    gx0, gx1 = cx - by[2] * 2.5, cx + by[2] * 2.5
    gy0, gy1 = cy - by[3] * 4, cy + by[3] * 2
    iw = max(0.0, min(bx + bw, gx1) - max(bx, gx0))
    ih = max(0.0, min(by_ + bh, gy1) - max(by_, gy0))
    return iw * ih / max(bw * bh, 1e-6)


def single_vehicle_scene(
    rng: np.random.Generator, height: int, width: int, plate_width: float, camera: bool = False
) -> Scene:
    """One vehicle whose plate is ``plate_width`` px wide near the frame centre, over a drawn street.

    The easy case a fixed ALPR camera sees; ``camera`` applies `degrade` (noise, blur, JPEG...) as well.
    """
    frame = background(rng, height, width)
    vehicle, text = plate_on_vehicle(rng, draw_vehicle(rng, int(plate_width / 0.22)))
    centre = (width * rng.uniform(0.35, 0.65), height * rng.uniform(0.45, 0.65))
    corners = place_vehicle(rng, frame, vehicle, centre, plate_width)
    x0, y0 = np.clip(corners.min(axis=0), 0, [width, height])
    x1, y1 = np.clip(corners.max(axis=0), 0, [width, height])
    image = degrade(rng, frame) if camera else frame
    return Scene(image, np.float32([[x0, y0, x1 - x0, y1 - y0]]), [text])
