"""Teacher labels meet their plates: several plates of one photo stay apart, and photos are held out whole."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
from training import detector_data, reader_data


def _dataset(root: Path, photos: dict[str, list[tuple[int, int, int, int]]]) -> None:
    """A plates-scenes-boxes-like set: each photo grey, each plate a white box with a dark bar of its own height."""
    folder = root / "plates-scenes-boxes"
    (folder / "images").mkdir(parents=True)
    with (folder / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "plate_text", "x", "y", "w", "h"])
        for name, boxes in photos.items():
            img = np.full((300, 300, 3), 90, np.uint8)
            for x, y, bw, bh in boxes:
                img[y : y + bh, x : x + bw] = 255
                w.writerow([name, "", x, y, bw, bh])
            cv2.imwrite(str(folder / "images" / name), img)


def test_each_plate_of_a_photo_gets_its_own_label(tmp_path: Path) -> None:
    photo = "train__0a1b2c3d-0000-4000-8000-000000000001_jpg.rf.aa.jpg"
    _dataset(tmp_path, {photo: [(20, 30, 60, 20), (150, 200, 90, 30), (200, 40, 50, 16)]})
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "scenes-boxes.csv").write_text(
        f"image,plate,plate_text,confidence\n{photo},0,AAA111,0.9\n{photo},1,BBB222,0.9\n", encoding="utf-8"
    )
    train, held = reader_data.teacher_split(tmp_path, labels)
    plates = train + held
    assert sorted(p.text for p in plates) == ["AAA111", "BBB222"]  # the third plate has no label: left out
    by_text = {p.text: p for p in plates}
    assert tuple(by_text["AAA111"].box[2:]) == (60, 20)
    assert tuple(by_text["BBB222"].box[2:]) == (90, 30)
    for p in plates:  # the box lies on the white plate inside the kept context
        x, y, w, h = (int(v) for v in p.box)
        assert p.image[y : y + h, x : x + w].min() >= 230  # JPEG leaves the white a shade off


def test_a_photo_is_held_out_as_the_detector_holds_it_out(tmp_path: Path) -> None:
    names = [f"train__{i:08x}-0000-4000-8000-000000000000_jpg.rf.{k}.jpg" for i in range(40) for k in ("a", "b")]
    _dataset(tmp_path, {n: [(20, 30, 60, 20)] for n in names})
    labels = tmp_path / "labels"
    labels.mkdir()
    rows = "".join(f"{n},0,{n[7:15].upper()},0.9\n" for n in names)
    (labels / "scenes-boxes.csv").write_text("image,plate,plate_text,confidence\n" + rows, encoding="utf-8")
    train, held = reader_data.teacher_split(tmp_path, labels)
    held_texts = {p.text for p in held}
    assert held_texts and {p.text for p in train}.isdisjoint(held_texts)
    for n in names:
        assert (n[7:15].upper() in held_texts) == detector_data.is_held_out(detector_data.source_key(n))
