"""Counter call keys: GPIO buttons, serial keypads and a simulator behind one interface.

``open_keypad(hardware, on_event)`` picks the backend named in the device's ``keys`` table.
"""

from device_drivers.keys.base import KEY_NAMES, KeyEvent, Keypad, KeypadError, KeypadNotFound, open_keypad

__all__ = ["KEY_NAMES", "KeyEvent", "Keypad", "KeypadError", "KeypadNotFound", "open_keypad"]
