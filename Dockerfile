# brokerside image: built with Debian bookworm's packages only (the same
# scripts/deps.sh a developer machine uses), run as a non-root user from a
# slim runtime stage.
#
#   podman build --format docker -t brokerside .   (or docker build; podman's
#   default OCI format silently drops the HEALTHCHECK)
#   podman run -p 7300:7300 brokerside                (listens on 0.0.0.0:7300, 7301)
#   podman run -p 7300:7300 brokerside --listen=0.0.0.0:7300 --target cache=redis://redis:6379
#   (arguments replace the default ones, listeners included)

FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/deps.sh scripts/requirements.txt scripts/
RUN scripts/deps.sh --build-only
COPY CMakeLists.txt ./
COPY proto proto
COPY protocol protocol
COPY pool pool
COPY sidecar sidecar
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBROKERSIDE_TESTS=OFF \
 && ninja -C /build brokerside \
 && strip /build/sidecar/brokerside

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libyaml-cpp0.7 libspdlog1.10 libfmt9 libssl3 libjemalloc2 librdkafka1 \
      ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 brokerside \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin brokerside
COPY --from=build /build/sidecar/brokerside /usr/local/bin/brokerside
USER 10001:10001
EXPOSE 7300 7301
# The arguments are CMD, not ENTRYPOINT, so that Kubernetes `args` (e.g.
# --config=...) replace them and a configuration file's listeners hold
# (flags override the file). By default: all interfaces inside the
# container; the admin port serves /healthz, /readyz and /metrics.
ENTRYPOINT ["/usr/local/bin/brokerside"]
CMD ["--listen=0.0.0.0:7300", "--admin=0.0.0.0:7301"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/brokerside", "--probe=127.0.0.1:7300"]
