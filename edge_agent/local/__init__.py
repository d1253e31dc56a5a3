"""A whole city on one machine, for the demo, the tests and the benchmarks: a TLS broker, a city CA and keys, and
the demo that replays a video through the real pipeline into them."""
