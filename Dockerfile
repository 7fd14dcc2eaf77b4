# davgate container image.
#   docker build -t davgate .
#   docker run -p 8080:8080 -v davgate-data:/data davgate
# The server runs as the non-root user davgate (uid 10001) with its data in /data.
# Manage accounts while it runs: docker exec <container> davgate user add alice

FROM rust:1.95-slim-bookworm AS builder
# make: jemalloc (the allocator) is built from C with its configure script and make.
RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin davgate

FROM debian:bookworm-slim
# tzdata: the pages show times in the zone TZ names (e.g. TZ=Europe/Paris).
RUN apt-get update && apt-get install -y --no-install-recommends tzdata \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 davgate \
    && useradd --system --uid 10001 --gid davgate --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin davgate \
    && mkdir /data \
    && chown davgate:davgate /data \
    && chmod 0700 /data
COPY --from=builder /src/target/release/davgate /usr/local/bin/davgate
ENV DAVGATE_DATA=/data \
    DAVGATE_LISTEN=0.0.0.0:8080 \
    NO_COLOR=1
EXPOSE 8080
VOLUME /data
USER 10001:10001
ENTRYPOINT ["davgate"]
CMD ["serve"]
