"""Training on several processes or machines: the job launcher and one server process."""
