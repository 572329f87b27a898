# syntax=docker/dockerfile:1
# The operator image: a release build of the binary on a distroless base, running as a non-root
# user. Build from the repository root:
#   docker build -t registry.example.com/connect-sso-operator:0.1.0 .

# --- build ---------------------------------------------------------------------------------------
# The toolchain matches rust-version in Cargo.toml. The full image brings the C compiler that
# aws-lc-sys (TLS crypto) needs.
FROM docker.io/library/rust:1.94-bookworm AS build
WORKDIR /src

# Dependencies first, against placeholder sources, so that editing src/ reuses this layer.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked --bin connect-sso-operator \
 && rm -rf src

COPY src ./src
# COPY keeps the sources' timestamps, which can be older than the placeholder build: make cargo
# see them as changed.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin connect-sso-operator \
 && cp target/release/connect-sso-operator /connect-sso-operator

# --- run -----------------------------------------------------------------------------------------
# glibc and libgcc, CA certificates, no shell. TLS is rustls, so no OpenSSL.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /connect-sso-operator /usr/local/bin/connect-sso-operator
# distroless' "nonroot" user, by number so that runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/connect-sso-operator"]
CMD ["run"]
