# Convenience targets; the scripts are the source of truth (README).
.PHONY: setup test test-slow demo lint check-arm64 soak
setup:
	scripts/setup
test:
	scripts/test
test-slow:
	scripts/test --slow
demo:
	scripts/demo
lint:
	.venv/bin/ruff format --check . && .venv/bin/ruff check . && .venv/bin/mypy edge_agent
	.venv/bin/vermin --target=3.10- --no-tips --violations --eval-annotations edge_agent
check-arm64:
	scripts/check-arm64
soak:
	.venv/bin/python scripts/soak_faults.py --faults 1000
