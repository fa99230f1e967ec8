"""The chaos day: a whole site under load while a fault injector breaks it, then checked.

:mod:`bench.chaos_day.day` runs it (``short_plan`` in ``make test``, ``full_plan`` for
``python -m bench chaos``), :mod:`~bench.chaos_day.load` simulates the devices,
:mod:`~bench.chaos_day.parts` starts and kills the processes, :mod:`~bench.chaos_day.checks` reads the
databases afterwards. ``python -m bench.chaos_day [--short]`` runs a day and prints its summary.
"""
