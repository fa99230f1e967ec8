"""The ticket kiosk (``onestop kiosk``): its view-model (``viewmodel``), Kivy screens (``screens``,
``app``), MQTT and printer device (``device``), ticket rendering (``ticket``), read-aloud
(``read_aloud``), headless HTTP driver (``headless``), screenshots (``screenshots``) and command
line (``cli``)."""
