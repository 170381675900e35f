# Build: the same command CI uses.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY bench ./bench
COPY tests ./tests
RUN cargo build --release --locked --bin attachd

# Run: small Debian base, unprivileged user, data in a volume.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/attachd --create-home attachd
COPY --from=build /src/target/release/attachd /usr/local/bin/attachd
USER attachd
WORKDIR /var/lib/attachd
ENV ATTACHD_LISTEN=0.0.0.0:8080 \
    ATTACHD_DATABASE_URL=sqlite:///var/lib/attachd/attachd.db
VOLUME ["/var/lib/attachd"]
EXPOSE 8080
ENTRYPOINT ["attachd"]
CMD ["serve"]
