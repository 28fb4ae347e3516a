"""Small domains and a runner script that the fault tests start as subprocesses."""
