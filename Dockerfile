# Images of the social backend: one image holding `api`, `notifier` and `ctl`.
#
#   docker build -t social .
#   docker run --rm social ctl --help
#
# The migrations are embedded into the binaries at compile time, so the
# runtime image needs no source, no migrations directory and no toolchain.

# ---------------------------------------------------------------- build stage
FROM rust:1.95-bookworm AS build

# rustls only (no OpenSSL); aws-lc-sys builds its C code with cc, cmake and
# clang are here in case a version of it wants them.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake clang \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# Dependencies first, in a layer of their own: the manifests and the lock file
# with stub sources. This layer is rebuilt only when a manifest or Cargo.lock
# changes, not on every change of the code.
COPY Cargo.toml Cargo.lock ./
COPY domain/Cargo.toml domain/
COPY application/Cargo.toml application/
COPY infrastructure/Cargo.toml infrastructure/
COPY bin/Cargo.toml bin/
RUN for crate in domain application infrastructure; do \
        mkdir -p "$crate/src" && : > "$crate/src/lib.rs"; \
    done \
 && mkdir -p bin/src \
 && for target in social api notifier bench ctl; do \
        echo 'fn main() {}' > "bin/src/$target.rs"; \
    done \
 && cargo build --release --locked --bin api --bin notifier --bin ctl

# Then the real sources. COPY keeps the files' own mtimes, which may be older
# than the stub build: touch them so that cargo rebuilds every workspace crate
# (the dependencies stay cached). infrastructure is rebuilt in full, so
# embed_migrations! reads migrations/ (and rust-embed web/dist/) afresh.
COPY domain domain
COPY application application
COPY infrastructure infrastructure
COPY bin bin
COPY migrations migrations
# The web client's built files, compiled into the api (rust-embed); no Node here.
COPY web/dist web/dist
RUN find domain application infrastructure bin migrations web/dist -type f -exec touch {} + \
 && cargo build --release --locked --bin api --bin notifier --bin ctl \
 && mkdir -p /out \
 && cp target/release/api target/release/notifier target/release/ctl /out/

# -------------------------------------------------------------- runtime stage
FROM debian:bookworm-slim AS runtime

# ca-certificates for TLS (webhooks, amqps, TLS PostgreSQL); curl for health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

# Non-root user with a fixed numeric id (so runAsNonRoot-style checks can see it).
RUN groupadd --system --gid 10001 social \
 && useradd --system --uid 10001 --gid social --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin social \
 && mkdir -p /app /data/media \
 && chown social:social /app /data/media

COPY --from=build /out/api /out/notifier /out/ctl /usr/local/bin/

WORKDIR /app

# Defaults for a container; every other setting comes from the environment
# (see .env.example). JWT_SECRET_KEY has no default and must be given.
ENV SERVER_ADDRESS=0.0.0.0 \
    SERVER_PORT=3000 \
    WEBSOCKET_PORT=4000 \
    MEDIA_DIR=/data/media \
    RUST_LOG=info

USER 10001:10001

# 3000: api (REST), 4000: notifier (WebSocket).
EXPOSE 3000 4000

# `api` by default; `notifier`, `ctl migrate`, `ctl create-admin ...` otherwise.
CMD ["api"]
