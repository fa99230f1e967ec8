"""The touch-terminal shell both terminals are built on: Kivy's set-up before the window (``app``),
the panel's physical size and the millimetre floors (``panel``), the Kivy widgets and colours
(``widgets``), the observable view-model base and double-tap guard (``observable``), the two
languages and bilingual texts (``words``), the headless HTTP trigger (``trigger``), a private Xvfb
(``xvfb``) and the bundled fonts (``assets``). Nothing here knows a ticket or a rating."""
