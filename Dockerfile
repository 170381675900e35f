# Build: the same command CI uses.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY crates ./crates
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
# bash's /dev/tcp: no HTTP client needed in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ' 200 ' <&3"]
ENTRYPOINT ["attachd"]
CMD ["serve"]
