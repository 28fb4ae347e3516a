"""The chaos soak: the reference bank as six processes, random SIGKILLs and dropped connections under load,
then counts from the stores (see :mod:`.test_chaos`)."""
