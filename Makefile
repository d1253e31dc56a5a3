# Convenience targets; the scripts are the source of truth (README).
.PHONY: setup test test-slow demo lint
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
