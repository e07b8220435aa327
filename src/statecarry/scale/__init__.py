"""Running many `fit`s beyond one process: the unit of work is one blog config over one chunk
of seeds, run by an executor (in this process, or as Ray tasks on a cluster). The driver alone
writes the run store. Ray is imported only here, and only when asked for."""
