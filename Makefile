# `make test` installs what the tests need (into a cache outside the repo) and runs them all.
SHELL := /bin/bash
CACHE ?= $(HOME)/.cache/connect-sso-operator
# One target dir outside the clone: test binaries share it, and a new clone builds incrementally.
export CARGO_TARGET_DIR ?= $(CACHE)/target

.PHONY: test tools fmt crds plan-example

test: tools
	cargo fmt --check
	cargo test --locked

# moto and the OneLogin SDK (PyPI) in a venv; kube-apiserver and etcd built from their Go modules.
tools:
	@tests/tools/install-python.sh > /dev/null
	@tests/envtest/build.sh > /dev/null

fmt:
	cargo fmt

# Rewrite crds/ after a deliberate change to the API types.
crds:
	UPDATE_CRDS=1 cargo test --locked --test crds

plan-example:
	cargo run --release -- plan -f deploy/examples/agent-app.yaml
