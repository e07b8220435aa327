"""The experiments, built on the public API only (`core.fit`, `predict`, the data layouts): the
blog's tasks and their `Config`, the claims and the rules that judge them, the sweep, the
variable-length comparison and forecasting. When an experiment needs something `fit` lacks,
`fit` grows; there is no private second loop."""
