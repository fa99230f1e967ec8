"""Device drivers: each device kind is one small interface, real backends chosen by name, and a simulator."""
