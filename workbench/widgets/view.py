"""The rules every widget here follows: the object owns its state, and its ipywidgets view is
built the first time it is shown (or `.widget` is read), never before; the state tells its
views when it changed (`Observable`). Nothing here imports ipywidgets."""

from __future__ import annotations

from collections.abc import Callable


class Observable:
    """Plain-Python state that calls `observe`d callbacks, with itself, whenever it changes."""

    def __init__(self):
        self._observers: list[Callable] = []

    def observe(self, callback: Callable) -> None:
        self._observers.append(callback)

    def _changed(self) -> None:
        for callback in list(self._observers):  # a callback may observe in turn
            callback(self)


class LazyView:
    """Subclasses set `self.state` and implement `_build()` returning the ipywidgets view."""

    _widget = None

    @property
    def widget(self):
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    def _build(self):
        raise NotImplementedError

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
