# brokerside image: built with Debian bookworm's packages only (the same
# scripts/deps.sh a developer machine uses); the runtime stage is `scratch`
# holding the binary, exactly the shared objects it links, the CA bundle and
# a passwd entry for uid 10001 — no shell, no package manager.
#
#   scripts/image.sh                                 (builds and smoke-tests it)
#   podman build --format docker -t brokerside .     (or docker build; podman's
#   default OCI format silently drops the HEALTHCHECK)
#   podman run brokerside --target cache=redis://redis:6379   (gRPC on 127.0.0.1:7300 in
#   the container's network: its pod's other containers; admin on 0.0.0.0:7301)
#   podman run -p 7300:7300 brokerside --listen=0.0.0.0:7300 --server.allow_insecure_remote=true \
#     --target cache=redis://redis:6379   (a quick local try: anyone reaching the port may call;
#   give listen.tls or auth.tokens_file instead, else brokerside refuses to start)
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
# The runtime's whole file system: what the binary links (the loader
# included), resolved through symlinks, and nothing else.
RUN mkdir -p /rootfs/usr/local/bin /rootfs/etc/ssl/certs \
 && cp /build/sidecar/brokerside /rootfs/usr/local/bin/ \
 && ldd /build/sidecar/brokerside \
      | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' \
      | xargs -I{} cp --parents -L {} /rootfs \
 && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
 && echo 'brokerside:x:10001:10001:brokerside:/nonexistent:/nonexistent' >/rootfs/etc/passwd \
 && echo 'brokerside:x:10001:' >/rootfs/etc/group

FROM scratch
COPY --from=build /rootfs /
USER 10001:10001
EXPOSE 7300 7301
# The arguments are CMD, not ENTRYPOINT, so that Kubernetes `args` (e.g.
# --config=...) replace them and a configuration file's listeners hold
# (flags override the file). By default gRPC on the container's loopback
# (the pod's containers share it: a sidecar's app reaches it) and the admin
# port, which serves /healthz, /readyz and /metrics and no broker, on every
# interface.
ENTRYPOINT ["/usr/local/bin/brokerside"]
CMD ["--listen=127.0.0.1:7300", "--admin=0.0.0.0:7301"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/brokerside", "--probe=127.0.0.1:7300"]
