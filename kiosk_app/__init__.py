"""The ticket kiosk and rating terminal: screens over plain view-models, and ticket rendering."""
