"""facefit: turn a face photo into the face-sculpting parameters of a game character.

The core library is pure: it never imports Flask, Celery or SQLAlchemy, so it runs and is
tested alone. Heavy dependencies (torch, dlib, moderngl) are imported by the modules that
need them, never here, so that `import facefit` stays cheap for the web process.
"""

__version__ = "0.1.0"
