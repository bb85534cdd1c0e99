"""The one rule every widget here follows: the object owns its state, and its ipywidgets view is
built the first time it is shown (or `.widget` is read), never before."""

from __future__ import annotations


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
