# Debian bookworm from debootstrap (imported as ROOTFS_IMAGE) plus this machine's CA
# certificates: outbound TLS is intercepted here. The engine also copies the certificates
# in /usr/local/share/ca-certificates into every Debian-like container it runs.
ARG ROOTFS_IMAGE=swarm/debian-rootfs:bookworm
FROM ${ROOTFS_IMAGE}
COPY ca-certificates/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
CMD ["bash"]
