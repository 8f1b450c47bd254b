"""The bottom layer: the error family, atomic writes and the content-hash cache, progress callbacks,
resource ceilings, paths, signals and the Dask cluster helpers. Imports nothing else of voxpop.
"""
