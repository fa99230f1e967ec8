"""The touch terminals: one package per terminal over a shared touch-terminal shell.

- :mod:`kiosk_app.shell`: what both terminals share (Kivy set-up, panel sizing, widgets, the
  observable view-model base, the two languages, the headless HTTP trigger, Xvfb, bundled fonts);
- :mod:`kiosk_app.ticket_kiosk`: the ticket kiosk (``onestop kiosk``), with ticket rendering and
  read-aloud;
- :mod:`kiosk_app.rating`: the rating terminal at a counter (``onestop rating``).

``fonts/`` (DejaVu Sans) and ``icons/`` (the kiosk's service icons) are package data.
"""
