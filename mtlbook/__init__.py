"""mtlbook: the companion package of the book.

Part I lives in :mod:`mtlbook.scratch` (numpy from scratch), shared helpers in
:mod:`mtlbook.nb` and :mod:`mtlbook.plot`, datasets in :mod:`mtlbook.data`.
"""

__version__ = "0.1.0"
