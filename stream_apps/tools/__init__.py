"""Tools around the worker: demo, bench, soak, evaluate, the simulator, catalogue and
dataset readers, file I/O for the CLI. They may start or import the worker; the worker
never imports them."""
