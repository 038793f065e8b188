"""Datasets and task generators used by the chapters.

Each module is one dataset or one sampler, e.g. :mod:`mtlbook.data.glyphs` (the
offline glyph alphabets) and :mod:`mtlbook.data.episodes` (N-way K-shot
episodes for any labelled arrays). Import the module you need; importing this
package loads nothing heavy.
"""
