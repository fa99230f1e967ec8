"""The rating terminal at a counter (``onestop rating``): its view-model (``viewmodel``), Kivy screens
(``screens``, ``app``), MQTT device (``device``), headless HTTP driver (``headless``), screenshots
(``screenshots``) and command line (``cli``)."""
