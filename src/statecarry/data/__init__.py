"""Data: the blog's tasks as sample sets, and layouts that turn any source into `Batches`."""
