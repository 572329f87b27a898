# `make test` installs what the tests need (into a cache outside the repo) and runs them all.
SHELL := /bin/bash
CACHE ?= $(HOME)/.cache/connect-sso-operator
# One target dir outside the clone: test binaries share it, and a new clone builds incrementally.
export CARGO_TARGET_DIR ?= $(CACHE)/target

.PHONY: test tools fmt crds plan-example fuzz

test: tools
	cargo fmt --check
	cargo test --locked
	fuzz/run.sh 10

# A longer fuzzing run: `make fuzz FUZZ_SECONDS=600`.
FUZZ_SECONDS ?= 300
fuzz:
	fuzz/run.sh $(FUZZ_SECONDS)

# moto and the OneLogin SDK (PyPI) in a venv; kube-apiserver, etcd and Helm built from their Go
# modules; the kstatus checker from sigs.k8s.io/cli-utils; Lua 5.1 (Argo CD's Lua) from Debian.
tools:
	@tests/tools/install-python.sh > /dev/null
	@tests/envtest/build.sh > /dev/null
	@tests/tools/install-helm.sh > /dev/null
	@tests/tools/install-lua.sh > /dev/null
	@tests/kstatus/build.sh > /dev/null

fmt:
	cargo fmt

# Rewrite crds/, the chart's copy and deploy/ after a deliberate change to the API types.
crds:
	UPDATE_CRDS=1 cargo test --locked --test crds
	UPDATE_CRDS=1 cargo test --locked --test chart chart_crds_equal_the_crds_directory
	deploy/render.sh

plan-example:
	cargo run --release -- plan -f deploy/examples/agent-app.yaml
