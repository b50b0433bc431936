"""Deprecated module: its names moved to .

Importing a name from here still works in setol 0.2 and warns with a
``DeprecationWarning``; the module goes in 0.3.
"""

from setol_theory._deprecated import moved_names

__getattr__, __dir__ = moved_names(__name__, {
})
