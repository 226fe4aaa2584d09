"""Pipeline: sessions over files or live sources, runs over many inputs (in process or Dask)."""
