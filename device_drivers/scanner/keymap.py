"""Linux key codes (``linux/input-event-codes.h``, a stable kernel ABI) and the US keyboard layout.

The codes are written out here so that decoding needs neither python-evdev nor Linux: recorded
events decode on any machine. ``tests/unit/test_scanner_hid.py`` checks them against
``evdev.ecodes`` where python-evdev is installed. Scanners are set to the US layout (docs/hardware.md).
"""

from __future__ import annotations

EV_SYN, EV_KEY, EV_MSC = 0x00, 0x01, 0x04

KEY_TAB, KEY_ENTER, KEY_KPENTER = 15, 28, 96
KEY_LEFTSHIFT, KEY_RIGHTSHIFT = 42, 54
KEY_LEFTCTRL, KEY_RIGHTCTRL = 29, 97
KEY_LEFTALT, KEY_RIGHTALT = 56, 100
KEY_LEFTMETA, KEY_RIGHTMETA = 125, 126
KEY_CAPSLOCK, KEY_NUMLOCK, KEY_SCROLLLOCK = 58, 69, 70
KEY_KPPLUS = 78

SHIFT_KEYS = frozenset({KEY_LEFTSHIFT, KEY_RIGHTSHIFT})
CTRL_KEYS = frozenset({KEY_LEFTCTRL, KEY_RIGHTCTRL})
#: Right Alt is AltGr on other layouts; a scanner set to US uses either for Alt codes.
ALT_KEYS = frozenset({KEY_LEFTALT, KEY_RIGHTALT})
#: Keys that change nothing in the text (the lock keys' state is the host's; see KeyDecoder).
IGNORED_KEYS = frozenset({KEY_LEFTMETA, KEY_RIGHTMETA, KEY_NUMLOCK, KEY_SCROLLLOCK})

_LETTERS = {
    "q": 16, "w": 17, "e": 18, "r": 19, "t": 20, "y": 21, "u": 22, "i": 23, "o": 24, "p": 25,
    "a": 30, "s": 31, "d": 32, "f": 33, "g": 34, "h": 35, "j": 36, "k": 37, "l": 38,
    "z": 44, "x": 45, "c": 46, "v": 47, "b": 48, "n": 49, "m": 50,
}  # fmt: skip

#: code -> (unshifted, shifted) on a US keyboard, letters included.
US_KEYS: dict[int, tuple[str, str]] = {
    2: ("1", "!"), 3: ("2", "@"), 4: ("3", "#"), 5: ("4", "$"), 6: ("5", "%"),
    7: ("6", "^"), 8: ("7", "&"), 9: ("8", "*"), 10: ("9", "("), 11: ("0", ")"),
    12: ("-", "_"), 13: ("=", "+"), 26: ("[", "{"), 27: ("]", "}"), 43: ("\\", "|"),
    39: (";", ":"), 40: ("'", '"'), 41: ("`", "~"), 51: (",", "<"), 52: (".", ">"), 53: ("/", "?"),
    57: (" ", " "),
    **{code: (ch, ch.upper()) for ch, code in _LETTERS.items()},
}  # fmt: skip

#: The numeric keypad with Num Lock on (scanners assume it), code -> character.
KEYPAD: dict[int, str] = {
    82: "0", 79: "1", 80: "2", 81: "3", 75: "4", 76: "5", 77: "6", 71: "7", 72: "8", 73: "9",
    83: ".", 98: "/", 55: "*", 74: "-", KEY_KPPLUS: "+",
}  # fmt: skip

#: Keypad digit keys, for Alt codes.
KEYPAD_DIGITS: dict[int, str] = {code: ch for code, ch in KEYPAD.items() if ch.isdigit()}

#: Ctrl + key -> control character (GS1 codes carry GS = Ctrl+]).
CTRL_CHARS: dict[str, str] = {
    **{ch: chr(ord(ch) - 0x60) for ch in _LETTERS},
    "@": "\x00", "[": "\x1b", "\\": "\x1c", "]": "\x1d", "^": "\x1e", "_": "\x1f",
}  # fmt: skip

#: Names of every code above, for the cross-check against evdev.ecodes.
KEY_NAMES: dict[str, int] = {
    "KEY_TAB": KEY_TAB, "KEY_ENTER": KEY_ENTER, "KEY_KPENTER": KEY_KPENTER,
    "KEY_LEFTSHIFT": KEY_LEFTSHIFT, "KEY_RIGHTSHIFT": KEY_RIGHTSHIFT,
    "KEY_LEFTCTRL": KEY_LEFTCTRL, "KEY_RIGHTCTRL": KEY_RIGHTCTRL,
    "KEY_LEFTALT": KEY_LEFTALT, "KEY_RIGHTALT": KEY_RIGHTALT,
    "KEY_LEFTMETA": KEY_LEFTMETA, "KEY_RIGHTMETA": KEY_RIGHTMETA,
    "KEY_CAPSLOCK": KEY_CAPSLOCK, "KEY_NUMLOCK": KEY_NUMLOCK, "KEY_SCROLLLOCK": KEY_SCROLLLOCK,
    "KEY_1": 2, "KEY_2": 3, "KEY_3": 4, "KEY_4": 5, "KEY_5": 6, "KEY_6": 7, "KEY_7": 8, "KEY_8": 9,
    "KEY_9": 10, "KEY_0": 11, "KEY_MINUS": 12, "KEY_EQUAL": 13, "KEY_LEFTBRACE": 26,
    "KEY_RIGHTBRACE": 27, "KEY_BACKSLASH": 43, "KEY_SEMICOLON": 39, "KEY_APOSTROPHE": 40,
    "KEY_GRAVE": 41, "KEY_COMMA": 51, "KEY_DOT": 52, "KEY_SLASH": 53, "KEY_SPACE": 57,
    "KEY_KP0": 82, "KEY_KP1": 79, "KEY_KP2": 80, "KEY_KP3": 81, "KEY_KP4": 75, "KEY_KP5": 76,
    "KEY_KP6": 77, "KEY_KP7": 71, "KEY_KP8": 72, "KEY_KP9": 73, "KEY_KPDOT": 83, "KEY_KPSLASH": 98,
    "KEY_KPASTERISK": 55, "KEY_KPMINUS": 74, "KEY_KPPLUS": KEY_KPPLUS,
    **{f"KEY_{ch.upper()}": code for ch, code in _LETTERS.items()},
}  # fmt: skip


def keystrokes(char: str) -> tuple[int, bool] | None:
    """How a US keyboard types ``char``: ``(code, shift)``, or None when it has no key."""
    for code, (plain, shifted) in US_KEYS.items():
        if char == plain:
            return code, False
        if char == shifted:
            return code, True
    return None
