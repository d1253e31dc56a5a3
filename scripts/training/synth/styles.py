"""What goes on a synthetic plate: text formats per region, state names, slogans and colour palettes.

Formats are patterns over ``L`` (letter), ``D`` (digit), ``X`` (either) and ``' '`` (a group break, drawn as a
space, dash, dot or emblem). Only the letters and digits are the label; every group break and every decoration
(state name, slogan, county, stickers, small stacked characters) is left out of it.
"""

from __future__ import annotations

import numpy as np

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"

US_FORMATS = (
    ("DDD LLL", 14),
    ("LLL DDD", 12),
    ("LLL DDDD", 10),
    ("LL DDDD", 4),
    ("DDD DDD", 4),
    ("DDDD LL", 3),
    ("DDDD", 2),
    ("LL DDD", 2),
    ("LLL DDL", 2),
    ("D LLL DDD", 4),
    ("DDD DDDD", 3),
    ("L DDDDDD", 2),
    ("DDDDD", 2),
    ("D LL DDD", 2),
    ("LL D LDDD", 1),
    ("LDDD LL", 1),
    ("DD LL DD", 1),
    ("DDDD L", 1),
    ("D L DDDDL", 1),
    ("D L DDDD", 1),
    ("DDD LLD", 1),
    ("DDDDD L", 1),
    ("LL DDDDD", 2),
    ("LLL DDLL", 1),
    ("DD LLL DD", 1),
    ("DDDDDD", 2),
    ("LDD DDDD", 1),
    ("DDDL DDD", 1),
    ("LLDD LLL", 1),
    ("DLL DDDD", 1),
    ("LLL LLLL", 1),
)
EU_FORMATS = (
    ("LL DDD LL", 4),
    ("L LL DDDD", 3),
    ("LL DD LLL", 3),
    ("DDDD LLL", 3),
    ("LL DDDDD", 2),
    ("LLL DDD", 2),
    ("DD LLL D", 1),
    ("LLL DDDD", 2),
)
VANITY_WORDS = (
    "GUTSY",
    "DRIFTER",
    "MOTORZ",
    "MOOSE",
    "HAWKEYE",
    "SUNNY",
    "BOSS",
    "LUCKY",
    "GOFAST",
    "ROCKET",
    "BEACH",
    "TAHOE",
    "FISHN",
    "GOLFER",
    "MYRIDE",
    "NOGAS",
    "TESLA",
    "JEEPER",
    "HOKIES",
    "GOPACK",
    "SKIBUM",
    "RANGER",
    "MOM",
    "DAD",
    "NANA",
    "PAPA",
    "SURFER",
    "OLDIE",
    "CRUZIN",
    "LOVE",
    "SMILE",
    "HAPPY",
    "BLUE",
    "RED",
    "QTPIE",
    "XHILR8",
    "GR8",
    "L8R",
    "2FAST",
    "4EVER",
    "ZOOM",
    "VROOM",
    "TOYS",
    "ANGEL",
    "DIVA",
    "KING",
    "QUEEN",
    "WOLF",
    "BEAR",
    "EAGLE",
    "NAVY",
    "ARMY",
    "USMC",
    "FIREMAN",
    "COWBOY",
    "RODEO",
    "BANJO",
    "JAZZ",
    "MUSIC",
    "PIANO",
    "ART",
    "MD",
    "DOC",
    "NURSE",
    "TEACH",
    "LAWYER",
    "IMPEACH",
    "GEEK",
    "NERD",
    "CODER",
    "PILOT",
    "SAILOR",
    "OCEAN",
    "MAUI",
    "ALOHA",
)
US_STATES = (
    "Alabama",
    "Alaska",
    "Arizona",
    "Arkansas",
    "California",
    "Colorado",
    "Connecticut",
    "Delaware",
    "Florida",
    "Georgia",
    "Hawaii",
    "Idaho",
    "Illinois",
    "Indiana",
    "Iowa",
    "Kansas",
    "Kentucky",
    "Louisiana",
    "Maine",
    "Maryland",
    "Massachusetts",
    "Michigan",
    "Minnesota",
    "Mississippi",
    "Missouri",
    "Montana",
    "Nebraska",
    "Nevada",
    "New Hampshire",
    "New Jersey",
    "New Mexico",
    "New York",
    "North Carolina",
    "North Dakota",
    "Ohio",
    "Oklahoma",
    "Oregon",
    "Pennsylvania",
    "Rhode Island",
    "South Carolina",
    "South Dakota",
    "Tennessee",
    "Texas",
    "Utah",
    "Vermont",
    "Virginia",
    "Washington",
    "West Virginia",
    "Wisconsin",
    "Wyoming",
    "District of Columbia",
)
SLOGANS = (
    "Land of Lincoln",
    "The Natural State",
    "Ocean State",
    "Sunshine State",
    "Live Free or Die",
    "First in Flight",
    "Great Lakes State",
    "10,000 lakes",
    "Empire State",
    "The Silver State",
    "Garden State",
    "Vacationland",
    "Constitution State",
    "The Lone Star State",
    "Green Mountain State",
    "Famous Potatoes",
    "Wild, Wonderful",
    "Celebrating Statehood",
    "America's Dairyland",
    "Native America",
    "Evergreen State",
    "Land of Enchantment",
    "Explore Minnesota",
    "Treasure the Chesapeake",
    "The First State",
    "Spirit of America",
    "Life Elevated",
    "Stars Fell On Alabama",
    "Heart of Dixie",
    "Peach State",
    "Show Me State",
    "Grand Canyon State",
    "Big Sky",
    "Beautiful",
    "Wonderful",
    "Sportsman's Paradise",
    "Discover",
    "Pure Michigan",
    "Crossroads of America",
    "visitPA.com",
    "Centennial",
    "Greatest Snow on Earth",
    "Volunteer State",
    "Aloha State",
    "Keystone State",
    "In God We Trust",
    "Taxation Without Representation",
    "Official",
    "Collegiate",
    "Support Our Troops",
    "Protect Wildlife",
    "Choose Life",
    "Save the Bay",
    "Sea Turtles",
    "Veteran",
    "Purple Heart",
)
COUNTIES = (
    "ADAMS",
    "BROWN",
    "CLARK",
    "DALLAS",
    "ESSEX",
    "FRANKLIN",
    "GREENE",
    "HAMILTON",
    "JACKSON",
    "KING",
    "LAKE",
    "MADISON",
    "MARION",
    "MONROE",
    "ORANGE",
    "PIERCE",
    "POLK",
    "SALEM",
    "UNION",
    "WAYNE",
    "YORK",
    "Fulton",
    "Cobb",
    "DeKalb",
    "Travis",
    "Harris",
)
# Dealer frames (plates._dealer_frame): a place-like name and what is sold there.
DEALER_NAMES = (
    "WESTSIDE",
    "VALLEY",
    "BAYSHORE",
    "SUNSET",
    "CAPITOL",
    "LAKESIDE",
    "HILLTOP",
    "RIVERSIDE",
    "METRO",
    "COASTAL",
    "PACIFIC",
    "MISSION",
    "HARBOR",
    "DESERT",
    "SUMMIT",
    "CENTRAL",
    "GATEWAY",
    "PIONEER",
    "PRAIRIE",
    "EMPIRE",
    "LIBERTY",
    "PREMIER",
    "DOWNTOWN",
    "NORTHGATE",
    "BOARDWALK",
    "EL CAMINO",
    "SIERRA",
    "REDWOOD",
)
DEALER_KINDS = (
    "MOTORS",
    "AUTO GROUP",
    "HONDA",
    "TOYOTA",
    "FORD",
    "NISSAN",
    "CHEVROLET",
    "KIA",
    "SUBARU",
    "MAZDA",
    "AUTO SALES",
    "DODGE",
    "HYUNDAI",
    "LEXUS",
    "VW",
    "MOTOR CARS",
    "AUTOPLEX",
    "IMPORTS",
)
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

# BGR colours.
INKS = (
    (60, 20, 10),  # navy
    (110, 40, 20),  # blue
    (20, 20, 20),  # black
    (30, 30, 150),  # dark red
    (40, 40, 200),  # red
    (40, 90, 20),  # green
    (30, 30, 90),  # maroon
    (90, 40, 60),  # purple
    (70, 70, 70),  # grey
    (120, 70, 0),  # teal-blue
    (0, 90, 160),  # brown-orange
)
LIGHT_BGS = (
    (250, 250, 250),
    (240, 245, 248),
    (225, 240, 250),
    (250, 240, 225),
    (245, 235, 220),
    (200, 235, 250),
    (150, 220, 250),
    (120, 210, 245),
    (235, 245, 235),
    (250, 225, 215),
    (230, 230, 230),
    (215, 245, 255),
)
DARK_BGS = ((90, 35, 10), (30, 30, 30), (30, 60, 20), (40, 30, 110), (100, 60, 20), (60, 20, 60))
BRIGHT_INKS = ((60, 200, 240), (255, 255, 255), (120, 230, 255), (235, 235, 235), (90, 210, 250))


def pick(rng: np.random.Generator, weighted: tuple[tuple[str, int], ...]) -> str:
    """One item of ``((item, weight), ...)``."""
    weights = np.array([w for _, w in weighted], dtype=np.float64)
    return weighted[int(rng.choice(len(weighted), p=weights / weights.sum()))][0]


def fill_format(rng: np.random.Generator, fmt: str) -> str:
    """Replace ``L``/``D``/``X`` in a format by random letters and digits; keeps the spaces (group breaks)."""
    out = []
    for ch in fmt:
        if ch == "L":
            out.append(LETTERS[rng.integers(26)])
        elif ch == "D":
            out.append(DIGITS[rng.integers(10)])
        elif ch == "X":
            out.append((LETTERS + DIGITS)[rng.integers(36)])
        else:
            out.append(ch)
    return "".join(out)


def vanity_text(rng: np.random.Generator) -> str:
    """A vanity plate of 2-8 characters: a word, a word with digits, or random letters."""
    roll = rng.random()
    if roll < 0.45:
        word = VANITY_WORDS[rng.integers(len(VANITY_WORDS))]
    elif roll < 0.7:
        n = int(rng.integers(2, 8))
        word = "".join(LETTERS[i] for i in rng.integers(0, 26, n))
    else:
        n = int(rng.integers(2, 8))
        word = "".join((LETTERS + DIGITS)[i] for i in rng.integers(0, 36, n))
    if rng.random() < 0.2 and len(word) <= 6:
        word += "".join(DIGITS[i] for i in rng.integers(0, 10, int(rng.integers(1, 3))))
    word = word[:8]
    if rng.random() < 0.25 and len(word) >= 4:
        cut = int(rng.integers(2, len(word) - 1))
        word = word[:cut] + " " + word[cut:]
    return word


def text_for(rng: np.random.Generator, style: str) -> str:
    """A random plate text with group breaks for `style`."""
    if style == "us":
        roll = rng.random()
        if roll < 0.15:
            return vanity_text(rng)
        if roll < 0.25:
            # Free-form serials so that the reader does not rely on a format prior.
            n = int(rng.integers(4, 9))
            return fill_format(rng, "".join("LDX"[i] for i in rng.integers(0, 3, n)))
        return fill_format(rng, pick(rng, US_FORMATS))
    if style == "eu":
        return fill_format(rng, pick(rng, EU_FORMATS))
    if style == "mercosur":
        return fill_format(rng, "LLL DLDD" if rng.random() < 0.5 else "LL DDD LL")
    if style == "br-old":
        text = fill_format(rng, "LLL DDDD")
        # O is one letter in 26 at random, but whole states' series start with it (Bahia's O..); and it is the
        # letter the reader must tell from D on these plates.
        return "O" + text[1:] if rng.random() < 0.25 else text
    if style == "ar-old":
        return fill_format(rng, "LLL DDD")
    raise ValueError(f"unknown plate style {style!r}")


def group_text(text: str) -> str:
    """Insert a group break into a bare A-Z0-9 text where letters meet digits (for caller-given texts)."""
    if " " in text or len(text) < 4:
        return text
    for i in range(1, len(text)):
        if text[i - 1].isalpha() != text[i].isalpha():
            return text[:i] + " " + text[i:]
    return text
