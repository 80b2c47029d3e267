# Stand-in for jaegertracing/jaeger:2.13.0: the all-in-one binary that
# scripts/install-jaeger.sh builds (Go module + jaeger-ui, as Jaeger's own build embeds it).
ARG BASE_IMAGE=swarm/debian:bookworm
FROM ${BASE_IMAGE}
COPY bin/jaeger /usr/local/bin/jaeger
# The official image listens on all interfaces; the binary defaults to localhost.
ENV JAEGER_LISTEN_HOST=0.0.0.0
EXPOSE 4317 4318 16686
# The official image's user.
USER 10001
ENTRYPOINT ["/usr/local/bin/jaeger"]
