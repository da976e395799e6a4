"""The stream worker: the Faust app, its agents, tables and HTTP views.

Nothing here imports :mod:`stream_apps.tools`; the worker depends only on ``engine``,
``stream_apps.kafka`` (plumbing) and the shared ``settings``/``codecs`` modules.
"""
