"""Every data source as `Batches` (NumPy only): sample sets, one long series, many packed
sequences; and `check_layout`, which proves a layout against its source."""
