# attachd's image: the binary, the few libraries it links, CA certificates and an unprivileged
# user, on no base at all (about 31 MB). `--target runtime` is the same on Debian, with a shell.
#
#   podman build --format docker -t attachd .                            # compiles in rust:1
#   cargo build --release --locked && \
#     podman build --format docker --build-arg BINARY=prebuilt -t attachd .   # your binary
#
# (`--format docker` keeps the HEALTHCHECK, which podman's OCI format drops; `docker build`
# needs no such flag.)

# The runtime stage's base, and where the binary comes from: `build` compiles it here;
# `prebuilt` takes target/release/attachd from the build context.
ARG BASE=debian:bookworm-slim
ARG BINARY=build

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY crates ./crates
COPY migrations ./migrations
COPY bench ./bench
COPY tests ./tests
RUN cargo build --release --locked --bin attachd && install -D target/release/attachd /out/attachd

FROM scratch AS prebuilt
COPY target/release/attachd /out/attachd

FROM ${BINARY} AS binary

# Debian with the binary: a complete image, and the source of the minimal one's files.
FROM ${BASE} AS runtime
RUN [ -s /etc/ssl/certs/ca-certificates.crt ] || { apt-get update \
        && apt-get install -y --no-install-recommends ca-certificates \
        && rm -rf /var/lib/apt/lists/* /var/cache/apt/*; } \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/attachd --create-home attachd
COPY --from=binary /out/attachd /usr/local/bin/attachd
# What the minimal image needs from here: the libraries ldd lists (and the loader), and the
# certificates.
RUN mkdir /minimal && ldd /usr/local/bin/attachd | grep -o '/[^ ]*' | xargs cp --parents -L -t /minimal \
    && cp --parents -L -t /minimal /etc/ssl/certs/ca-certificates.crt /etc/passwd /etc/group
USER 10001:10001
WORKDIR /var/lib/attachd
ENV ATTACHD_LISTEN=0.0.0.0:8080 \
    ATTACHD_DATABASE_URL=sqlite:///var/lib/attachd/attachd.db
VOLUME ["/var/lib/attachd"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["attachd", "healthcheck"]
ENTRYPOINT ["attachd"]
CMD ["serve"]

# The default image: nothing but what attachd needs to run (no shell, no package manager).
FROM scratch AS minimal
COPY --from=runtime /minimal/ /
COPY --from=runtime /usr/local/bin/attachd /usr/local/bin/attachd
COPY --from=runtime --chown=10001:10001 /var/lib/attachd /var/lib/attachd
USER 10001:10001
WORKDIR /var/lib/attachd
ENV PATH=/usr/local/bin \
    ATTACHD_LISTEN=0.0.0.0:8080 \
    ATTACHD_DATABASE_URL=sqlite:///var/lib/attachd/attachd.db
VOLUME ["/var/lib/attachd"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["attachd", "healthcheck"]
ENTRYPOINT ["attachd"]
CMD ["serve"]
